"""Normalisation layers: class-conditional batch norm (de Vries et al. 2017; BigGAN's conditional BN)."""
from __future__ import annotations

import torch
from torch import nn


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are linear functions of a conditioning vector.

    x: (B, C, H, W), cond: (B, D) (e.g. a class embedding, optionally with a chunk of z as in BigGAN)
    -> (B, C, H, W) = BN(x) * (1 + gain(cond)) + bias(cond); at initialisation it is plain BN.
    """

    def __init__(self, channels: int, cond_dim: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False, eps=eps, momentum=momentum)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        for layer in (self.gain, self.bias):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(cond)[:, :, None, None]
        return self.bn(x) * gain + self.bias(cond)[:, :, None, None]
