"""Sampling token sequences from a causal transformer: the naive sampler (a full pass over the sequence per
token) and the key/value-cached one (one position per token).

Both draw token t by inverse-CDF sampling from the uniform u[:, t], drawn up front from the caller's generator,
so for the same seed they draw the same sequences (up to float rounding of the logits landing exactly on a
boundary of the CDF).
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ...nn.transformer import CausalTransformer


def draw_tokens(logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Inverse-CDF draw: logits (B, V), uniforms u (B,) in [0, 1) -> tokens (B,) long, token k with
    probability softmax(logits / temperature)_k."""
    cdf = torch.softmax(logits.float() / temperature, -1).cumsum(-1)
    values = u.float().to(cdf.device).reshape(-1, 1).contiguous()
    return torch.searchsorted(cdf.contiguous(), values).clamp(max=logits.shape[-1] - 1)[:, 0]


def _positions(n: int, progress: bool | None, desc: str):
    return tqdm(range(n), desc=desc, unit="token", disable=None if progress is None else not progress, leave=False)


@torch.no_grad()
def naive_sequence_sample(net: CausalTransformer, prefix: torch.Tensor, u: torch.Tensor, temperature: float = 1.0,
                          progress: bool | None = None) -> torch.Tensor:
    """One full forward pass per token: prefix (B,) long, u (B, L) uniforms -> tokens (B, L) long."""
    b, length = u.shape
    tokens = torch.zeros(b, length, dtype=torch.long, device=prefix.device)
    for t in _positions(length, progress, "sample (naive)"):
        tokens[:, t] = draw_tokens(net(tokens[:, :t + 1], prefix)[:, t], u[:, t], temperature)
    return tokens


@torch.no_grad()
def cached_sequence_sample(net: CausalTransformer, prefix: torch.Tensor, u: torch.Tensor, temperature: float = 1.0,
                           progress: bool | None = None) -> torch.Tensor:
    """One position per token with a key/value cache: prefix (B,) long, u (B, L) uniforms -> tokens (B, L)."""
    b, length = u.shape
    param = next(net.parameters())
    cache = net.new_cache(b, param.device, param.dtype)
    tokens = torch.zeros(b, length, dtype=torch.long, device=prefix.device)
    previous = None
    for t in _positions(length, progress, "sample"):
        previous = draw_tokens(net.step(previous, prefix, cache), u[:, t], temperature)
        tokens[:, t] = previous
    return tokens
