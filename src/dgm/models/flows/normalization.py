"""Learned elementwise scalings: NICE's diagonal scaling layer and Glow's ActNorm."""
from __future__ import annotations

import torch
from torch import nn

from .bijector import Bijector, bijectors


class Scaling(Bijector):
    """y = x * exp(s) with one learned log-scale per dimension (NICE's last layer); ladj = sum(s)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return x * torch.exp(self.log_scale), self.log_scale.sum().expand(x.shape[0])

    def inverse(self, y):
        return y * torch.exp(-self.log_scale)


class ActNorm(Bijector):
    """Per-channel affine y = (x + bias) * exp(log_scale) on (B, C, H, W) (Kingma & Dhariwal 2018).

    Data-dependent initialisation: the first forward pass in training mode sets bias and scale so that
    that batch's output has zero mean and unit variance per channel. ``initialized`` is a buffer, so it
    travels with the state dict and a model loaded from a checkpoint is never re-initialised.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)

    def forward(self, x):
        if self.training and not bool(self.initialized):
            self.initialize(x)
        ladj = x.shape[2] * x.shape[3] * self.log_scale.sum()
        return (x + self.bias) * torch.exp(self.log_scale), ladj.expand(x.shape[0])

    def inverse(self, y):
        return y * torch.exp(-self.log_scale) - self.bias


@bijectors.register("scaling", help="NICE diagonal scaling")
def _scaling_example(shape):
    return Scaling(shape)


@bijectors.register("actnorm", help="Glow ActNorm, data-dependent init")
def _actnorm_example(shape):
    return ActNorm(shape[0])
