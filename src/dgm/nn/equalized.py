"""Equalised learning rate (Karras et al. 2018, ProGAN; used by StyleGAN and ALAE): weights are stored as N(0, 1)
and scaled at run time by He's constant gain / sqrt(fan_in), so Adam's step, which is about the learning rate
in the stored units whatever the gradient's scale, moves every layer's effective weights by the same relative
amount. With plain layers the same learning rate is sqrt(fan_in) times larger in effect (ALAE's 0.002 would be
0.002 * 32 at 1024 inputs)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedLinear(nn.Module):
    """x (..., in) -> (..., out) = x W^T c + b with W ~ N(0, 1), c = gain / sqrt(in), b = bias_init at the start.

    ``lr_mul`` < 1 slows the layer down by that factor (StyleGAN's mapping network, 0.01): weights are stored
    divided by it and the runtime scale (and the bias) multiplied by it, so the effective weights start the same."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0), lr_mul: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul = gain / math.sqrt(in_features) * lr_mul, lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.lr_mul != 1.0 else self.bias
        return F.linear(x, self.weight * self.scale, bias)


class EqualizedConv2d(nn.Module):
    """A k x k convolution (B, in, H, W) -> (B, out, H', W') with the runtime scale gain / sqrt(in * k * k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, padding: int = 0,
                 gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale, self.padding = gain / math.sqrt(in_channels * kernel * kernel), padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)
