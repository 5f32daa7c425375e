"""Causal self-attention over the pixels of an image in raster order (PixelSNAIL, Chen et al. 2018)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def strictly_earlier_mask(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, n + 1) bool: row i may attend to the null key (column 0) and to positions j < i (column j + 1)."""
    mask = torch.ones(n, n + 1, dtype=torch.bool, device=device)
    mask[:, 1:] = torch.ones(n, n, dtype=torch.bool, device=device).tril(-1)
    return mask


class CausalPixelAttention(nn.Module):
    """q_in (B, Cq, H, W), kv_in (B, Ckv, H, W) -> (B, out, H, W): at pixel i (raster order), a mix of the values
    of pixels j < i and a learned null value (the first pixel's only choice).

    Keys and values may be any features of the pixels they sit at (PixelSNAIL feeds the input image too), since
    only strictly earlier pixels are seen; queries must come from features of pixels < i alone (the first data
    channel's group of a masked stack), so that the output at i depends on no value of pixel i.
    """

    def __init__(self, q_channels: int, kv_channels: int, out_channels: int, key_dim: int = 16,
                 value_dim: int = 32, heads: int = 1):
        super().__init__()
        self.heads, self.key_dim, self.value_dim = heads, key_dim, value_dim
        self.query = nn.Conv2d(q_channels, heads * key_dim, 1)
        self.key = nn.Conv2d(kv_channels, heads * key_dim, 1)
        self.value = nn.Conv2d(kv_channels, heads * value_dim, 1)
        self.null_key = nn.Parameter(torch.zeros(heads, 1, key_dim))
        self.null_value = nn.Parameter(torch.zeros(heads, 1, value_dim))
        self.out = nn.Conv2d(heads * value_dim, out_channels, 1)

    def _split(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        b = x.shape[0]
        return x.view(b, self.heads, dim, -1).transpose(2, 3)  # (B, heads, N, dim)

    def forward(self, q_in: torch.Tensor, kv_in: torch.Tensor) -> torch.Tensor:
        b, _, h, w = q_in.shape
        q = self._split(self.query(q_in), self.key_dim)
        # keys [null, pixel 0, .., pixel N-2] under the standard causal mask are exactly "the null key and every
        # strictly earlier pixel" (strictly_earlier_mask), and let SDPA use its fused kernel instead of
        # materialising (B, heads, N, N + 1) scores; the last pixel's key is nobody's
        k = torch.cat([self.null_key.expand(b, -1, -1, -1).to(q.dtype),
                       self._split(self.key(kv_in), self.key_dim)[:, :, :-1]], 2)
        v = torch.cat([self.null_value.expand(b, -1, -1, -1).to(q.dtype),
                       self._split(self.value(kv_in), self.value_dim)[:, :, :-1]], 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(2, 3).reshape(b, self.heads * self.value_dim, h, w))


class AttentionCache:
    """The keys and values of the pixels drawn so far, for sampling a ``CausalPixelAttention`` one pixel at a
    time: ``attend(p, q_in)`` is the module's output at raster position p, ``add(p, kv_in)`` stores pixel p's
    key and value once it is complete."""

    def __init__(self, attn: CausalPixelAttention, batch: int, n: int, dtype: torch.dtype,
                 device: torch.device | str = "cpu"):
        self.heads, self.key_dim, self.value_dim = attn.heads, attn.key_dim, attn.value_dim

        def matrix(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:  # a 1x1 conv on (B, in) vectors
            return conv.weight.detach()[:, :, 0, 0].t().to(dtype), conv.bias.detach().to(dtype)

        self.q, self.k, self.v, self.out = (matrix(c) for c in (attn.query, attn.key, attn.value, attn.out))
        # position 0: the null key / value; pixel p at position p + 1
        self.keys = torch.zeros(batch, self.heads, n + 1, self.key_dim, dtype=dtype, device=device)
        self.values = torch.zeros(batch, self.heads, n + 1, self.value_dim, dtype=dtype, device=device)
        self.keys[:, :, 0] = attn.null_key.detach()[:, 0].to(dtype)
        self.values[:, :, 0] = attn.null_value.detach()[:, 0].to(dtype)

    def attend(self, p: int, q_in: torch.Tensor) -> torch.Tensor:
        """q_in (B, Cq): the query features at pixel p -> (B, out), from the null key and pixels < p."""
        b = q_in.shape[0]
        q = torch.addmm(self.q[1], q_in, self.q[0]).view(b, self.heads, 1, self.key_dim)
        y = F.scaled_dot_product_attention(q, self.keys[:, :, :p + 1], self.values[:, :, :p + 1])
        return torch.addmm(self.out[1], y.reshape(b, self.heads * self.value_dim), self.out[0])

    def add(self, p: int, kv_in: torch.Tensor) -> None:
        """kv_in (B, Ckv): the key / value features of the complete pixel p."""
        b = kv_in.shape[0]
        self.keys[:, :, p + 1] = torch.addmm(self.k[1], kv_in, self.k[0]).view(b, self.heads, self.key_dim)
        self.values[:, :, p + 1] = torch.addmm(self.v[1], kv_in, self.v[0]).view(b, self.heads, self.value_dim)
