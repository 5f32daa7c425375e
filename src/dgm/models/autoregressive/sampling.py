"""Autoregressive image sampling: pre-drawn noise, the naive sampler, and the loop shared by fast samplers.

Every sampler draws pixels in raster order and, within a pixel, channels in order, each by inverse-CDF
sampling (``head.quantile``) from uniforms drawn up front with the caller's generator. Samplers that compute
the same conditionals therefore draw the same images for the same seed, however they compute them.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from tqdm.auto import tqdm

from ..likelihoods import LikelihoodHead

NetFn = Callable[[torch.Tensor], torch.Tensor]  # network input (B, C, H, W) -> head params (B, P*C, H, W)


def draw_noise(n: int, shape: tuple[int, int, int], head: LikelihoodHead, generator: torch.Generator | None,
               dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniforms for every value of n images: (n, C, H, W, head.noise_dims), drawn in float32 on the CPU (the
    same values on every device), then cast and moved to ``device``."""
    return torch.rand((n, *shape, head.noise_dims), generator=generator).to(device=device, dtype=dtype)


def to_input(x: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] (binary or k / 255) -> the network's input scale [-1, 1]."""
    return x * 2 - 1


def raster(height: int, width: int, progress: bool | None, desc: str) -> Iterator[tuple[int, int]]:
    """(i, j) in raster order, with a progress bar over rows (None: only on a terminal)."""
    for i in tqdm(range(height), desc=desc, unit="row", disable=None if progress is None else not progress,
                  leave=False):
        for j in range(width):
            yield i, j


def value_params(params: torch.Tensor, params_per_dim: int, c: int) -> torch.Tensor:
    """Head parameters at one pixel, (B, P*C), -> those of data channel c, (B, P) (layout p * C + c)."""
    return params.view(params.shape[0], params_per_dim, -1)[:, :, c]


@torch.no_grad()
def naive_sample(net_fn: NetFn, head: LikelihoodHead, noise: torch.Tensor, progress: bool | None = None
                 ) -> torch.Tensor:
    """One full forward pass per value (C * H * W passes): noise (B, C, H, W, k) -> images (B, C, H, W)."""
    b, c_n, h, w, _ = noise.shape
    x = torch.zeros(b, c_n, h, w, dtype=noise.dtype, device=noise.device)
    for i, j in raster(h, w, progress, "sample (naive)"):
        for c in range(c_n):
            params = net_fn(to_input(x))[:, :, i, j]
            x[:, c, i, j] = head.quantile(value_params(params, head.params_per_dim, c), noise[:, c, i, j])
    return x


@torch.no_grad()
def sample_pixels(pixel_fn: Callable[[int, int], torch.Tensor],
                  write_fn: Callable[[int, int, int, torch.Tensor], None], head: LikelihoodHead,
                  noise: torch.Tensor, progress: bool | None = None,
                  row_done: Callable[[int, torch.Tensor], None] | None = None,
                  transform: Callable[[torch.Tensor], torch.Tensor] = to_input) -> torch.Tensor:
    """The loop of a cached sampler: ``pixel_fn(i, j)`` -> head params (B, P*C) at (i, j) from the caches;
    ``write_fn(i, j, c, v)`` stores the new value (``transform``ed: the network's scale) in the caches;
    ``row_done(i, x_row)`` runs after each row (vertical stacks). Channels of a pixel are re-evaluated one by
    one, as the naive sampler does, since channel c's parameters depend on channels < c of the same pixel."""
    b, c_n, h, w, _ = noise.shape
    x = torch.zeros(b, c_n, h, w, dtype=noise.dtype, device=noise.device)
    for i, j in raster(h, w, progress, "sample"):
        for c in range(c_n):
            v = head.quantile(value_params(pixel_fn(i, j), head.params_per_dim, c), noise[:, c, i, j])
            x[:, c, i, j] = v
            write_fn(i, j, c, transform(v))
        if row_done is not None and j == w - 1:
            row_done(i, transform(x[:, :, i]))
    return x
