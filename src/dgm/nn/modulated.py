"""StyleGAN2's style-modulated convolution (Karras et al. 2020, section 2.2): the style s (B, in) scales each
input channel's weights, and demodulation rescales each output channel so that, for unit-variance inputs, the
output keeps unit variance: w'_oik = s_i w_oik, w''_oik = w'_oik / sqrt(sum_ik w'_oik^2 + eps).

Computed as the paper's "non-fused" form: modulate the input (x * s), run the one shared convolution, then
multiply by the per-sample demodulation factor (B, out); the same numbers as a per-sample grouped convolution,
without materialising B weight tensors.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .equalized import EqualizedLinear


class ModulatedConv2d(nn.Module):
    """x (B, in, H, W), w (B, w_dim) -> (B, out, H', W'): a k x k convolution (equalised lr) whose input
    channels are scaled by the style s = A(w) (affine, bias 1 at the start), demodulated unless
    ``demodulate=False`` (the toRGB layers); ``up``: bilinear 2x upsampling first (H' = 2H)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, w_dim: int, demodulate: bool = True,
                 up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)
        self.demodulate, self.up, self.padding = demodulate, up, kernel // 2

    def styles(self, w: torch.Tensor) -> torch.Tensor:
        """s = A(w): (B, w_dim) -> (B, in)."""
        return self.affine(w)

    def demodulation(self, s: torch.Tensor) -> torch.Tensor:
        """1 / sqrt(sum_ik (s_i w_oik)^2 + 1e-8): (B, in) -> (B, out)."""
        wsq = (self.weight * self.scale).pow(2).sum((2, 3))  # (out, in)
        return torch.rsqrt(s.pow(2) @ wsq.T + 1e-8)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.styles(w)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x * s[:, :, None, None].to(x.dtype), (self.weight * self.scale).to(x.dtype),
                       padding=self.padding)
        if self.demodulate:
            out = out * self.demodulation(s)[:, :, None, None].to(out.dtype)
        return out


class NoiseInjection(nn.Module):
    """x (B, C, H, W) + strength (C,) * noise (B, 1, H, W), noise ~ N(0, 1) per pixel (StyleGAN's stochastic
    detail); the strengths start at 0. ``noise`` may be given (fixed-noise grids, resampling)."""

    def __init__(self, channels: int):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        return x + self.strength[None, :, None, None].to(x.dtype) * noise
