"""A decoder-only transformer over token sequences (GPT-style, pre-LayerNorm; the second stage of VQGAN): causal
self-attention, learned positional embeddings, a prefix token (the start token, or a class) in front, and a
key/value cache so that a sampler pays one position per step instead of the whole prefix.

Shifted by one: the logits at position t are of token t given the prefix and tokens 0..t-1, so no output
depends on its own token or later ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class KVCache:
    """Keys and values of every layer for positions [0, filled): k, v (layers, B, heads, length, head_dim)."""

    k: torch.Tensor
    v: torch.Tensor
    filled: int = 0


class CausalSelfAttention(nn.Module):
    """x (B, T, D) -> (B, T, D); position t attends to positions <= t (and to the cache's earlier positions)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"transformer width {dim} must be divisible by its heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).split(d, -1))
        p = self.dropout if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:  # the new positions [filled, filled + t) see every cached one and, causally, each other
            start = cache.filled
            cache.k[layer, :, :, start:start + t] = k
            cache.v[layer, :, :, start:start + t] = v
            keys, values = cache.k[layer, :, :, :start + t], cache.v[layer, :, :, :start + t]
            mask = None
            if t > 1:
                mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class TransformerBlock(nn.Module):
    """x + attention(LN(x)), then + MLP(LN(x)) with a 4x GELU hidden layer."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class CausalTransformer(nn.Module):
    """tokens (B, T) long in [0, vocab), prefix (B,) long in [0, prefixes) -> logits (B, T, vocab): at t, of
    token t given the prefix and tokens < t. T <= ``length``."""

    def __init__(self, vocab: int, length: int, dim: int = 256, layers: int = 4, heads: int = 4,
                 dropout: float = 0.0, prefixes: int = 1):
        super().__init__()
        self.vocab, self.length, self.dim, self.heads = vocab, length, dim, heads
        self.token = nn.Embedding(vocab, dim)
        self.prefix = nn.Embedding(prefixes, dim)
        self.position = nn.Parameter(torch.randn(length, dim) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab)

    def embed(self, tokens: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """The input sequence [prefix, token 0 .. token T-2] plus positions: (B, T, dim)."""
        t = tokens.shape[1]
        if t > self.length:
            raise ValueError(f"sequence of {t} tokens is longer than the transformer's {self.length}")
        h = torch.cat([self.prefix(prefix)[:, None], self.token(tokens[:, :t - 1])], 1)
        return h + self.position[:t]

    def run(self, h: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Input embeddings (B, T, dim) -> logits (B, T, vocab) (exposed for the causality test)."""
        h = self.drop(h)
        for i, block in enumerate(self.blocks):
            h = block(h, cache, i)
        return self.out(self.norm(h))

    def forward(self, tokens: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        return self.run(self.embed(tokens, prefix))

    def new_cache(self, batch: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
                  ) -> KVCache:
        """An empty cache for ``batch`` sequences of up to ``length`` tokens (positions >= ``filled`` are never
        read, so it is left uninitialised)."""
        shape = (len(self.blocks), batch, self.heads, self.length, self.dim // self.heads)
        return KVCache(torch.empty(shape, device=device, dtype=dtype), torch.empty(shape, device=device, dtype=dtype))

    def step(self, previous: torch.Tensor | None, prefix: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits (B, vocab) of the token at position ``cache.filled``, given the token before it (B,) long
        (None at position 0, where the prefix is the input); advances the cache by one position."""
        t = cache.filled
        h = self.prefix(prefix) if previous is None else self.token(previous)
        logits = self.run((h + self.position[t])[:, None], cache)[:, 0]
        cache.filled += 1
        return logits
