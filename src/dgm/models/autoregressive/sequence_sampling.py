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


def _start(u: torch.Tensor, prefix: torch.Tensor, known: torch.Tensor | None) -> tuple[torch.Tensor, int]:
    tokens = torch.zeros(u.shape, dtype=torch.long, device=prefix.device)
    if known is None:
        return tokens, 0
    tokens[:, :known.shape[1]] = known
    return tokens, known.shape[1]


@torch.no_grad()
def naive_sequence_sample(net: CausalTransformer, prefix: torch.Tensor, u: torch.Tensor, temperature: float = 1.0,
                          progress: bool | None = None, known: torch.Tensor | None = None) -> torch.Tensor:
    """One full forward pass per token: prefix (B,) long, u (B, L) uniforms -> tokens (B, L) long; ``known``
    (B, P) long: the first P tokens are given (a coarser code map), not drawn."""
    tokens, start = _start(u, prefix, known)
    for t in _positions(u.shape[1] - start, progress, "sample (naive)"):
        t += start
        tokens[:, t] = draw_tokens(net(tokens[:, :t + 1], prefix)[:, t], u[:, t], temperature)
    return tokens


@torch.no_grad()
def cached_sequence_sample(net: CausalTransformer, prefix: torch.Tensor, u: torch.Tensor, temperature: float = 1.0,
                           progress: bool | None = None, known: torch.Tensor | None = None) -> torch.Tensor:
    """One position per token with a key/value cache: prefix (B,) long, u (B, L) uniforms -> tokens (B, L);
    ``known`` (B, P): given first tokens, read into the cache in one pass."""
    param = next(net.parameters())
    cache = net.new_cache(u.shape[0], param.device, param.dtype)
    tokens, start = _start(u, prefix, known)
    previous = None
    if start:
        net.run(net.embed(tokens[:, :start], prefix), cache)
        cache.filled = start
        previous = tokens[:, start - 1]
    for t in _positions(u.shape[1] - start, progress, "sample"):
        previous = draw_tokens(net.step(previous, prefix, cache), u[:, t + start], temperature)
        tokens[:, t + start] = previous
    return tokens
