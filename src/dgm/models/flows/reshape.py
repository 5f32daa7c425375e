"""Volume-preserving reshapes of multi-scale flows (Dinh et al. 2017): squeeze and factor-out."""
from __future__ import annotations

import math

import torch

from .bijector import Bijector, Chain, bijectors
from .invconv import InvConv1x1


class Squeeze(Bijector):
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block of a channel becomes 4 channels; ladj = 0."""

    volume_preserving = True  # a permutation of the entries

    def forward(self, x):
        b, c, h, w = x.shape
        y = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(b)

    def inverse(self, y):
        b, c4, h, w = y.shape
        c = c4 // 4
        return y.view(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c, 2 * h, 2 * w)

    def output_shape(self, shape):
        c, h, w = shape
        if h % 2 or w % 2:
            raise ValueError(f"squeeze needs even sides, got {h}x{w}")
        return (4 * c, h // 2, w // 2)


class FactorOut(Bijector):
    """Multi-scale architecture: the first ``out_channels`` channels of x (B, C, H, W) leave the flow (they are
    latents as they are); the rest go through ``inner``. Output: the flat latent (B, D) = (factored-out,
    inner's output), so nesting FactorOuts gives one vector; ladj = inner's."""

    def __init__(self, shape: tuple[int, int, int], inner: Bijector, out_channels: int | None = None):
        super().__init__()
        c, h, w = shape
        self.k = c // 2 if out_channels is None else out_channels
        self.out_shape = (self.k, h, w)
        self.inner = inner
        self.inner_shape = tuple(inner.output_shape((c - self.k, h, w)))
        self.n_out = self.k * h * w

    def forward(self, x):
        y, ladj = self.inner(x[:, self.k:])
        return torch.cat([x[:, :self.k].flatten(1), y.flatten(1)], dim=1), ladj

    def inverse(self, z):
        b = z.shape[0]
        out = z[:, :self.n_out].view(b, *self.out_shape)
        kept = self.inner.inverse(z[:, self.n_out:].view(b, *self.inner_shape))
        return torch.cat([out, kept], dim=1)

    def output_shape(self, shape):
        return (self.n_out + math.prod(self.inner_shape),)


@bijectors.register("squeeze", help="2x2 squeeze")
def _squeeze_example(shape):
    return Squeeze()


@bijectors.register("factor-out", help="multi-scale factor-out around squeeze + 1x1 conv")
def _factor_out_example(shape):
    c, h, w = shape
    return FactorOut(shape, Chain([Squeeze(), InvConv1x1(4 * (c - c // 2))]))
