"""Masked convolutions for autoregressive image models (PixelCNN, van den Oord et al. 2016).

Order: raster order over pixels and, within a pixel, the data channels in order (R before G before B).
Every feature channel belongs to a data-channel group, ``index % data_channels``, so an output layout of
``(P, C)`` parameters per pixel (``p * C + c``) puts parameter ``p`` of data channel ``c`` in group ``c``.

A convolution is described by its kernel ``(kh, kw)`` and the tap ``center = (cy, cx)`` aligned with the
output pixel; the input is zero-padded so that the output has the input's size. Taps before the centre in
raster order see every channel, the centre tap sees earlier groups (mask "A", the first layer) or earlier
and equal groups (mask "B", later layers), taps after the centre see nothing. Causal kernels store only the
rows up to the centre (a k x k mask B conv is a (k//2 + 1) x k kernel), so no multiply is spent on zeros
below the centre row.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

MaskType = Literal["A", "B"]


def channel_groups(n: int, data_channels: int) -> torch.Tensor:
    """The data-channel group of each of n feature channels: (n,) int64, ``index % data_channels``."""
    return torch.arange(n) % data_channels


def causal_mask(out_channels: int, in_channels: int, kernel: tuple[int, int], center: tuple[int, int],
                mask_type: MaskType | None, data_channels: int = 1) -> torch.Tensor:
    """The 0/1 mask of a conv weight, (out, in, kh, kw); all ones when ``mask_type`` is None."""
    kh, kw = kernel
    mask = torch.ones(out_channels, in_channels, kh, kw)
    if mask_type is None:
        return mask
    cy, cx = center
    mask[:, :, cy, cx + 1:] = 0
    mask[:, :, cy + 1:] = 0
    g_out = channel_groups(out_channels, data_channels)[:, None]
    g_in = channel_groups(in_channels, data_channels)[None, :]
    allowed = g_out > g_in if mask_type == "A" else g_out >= g_in
    mask[:, :, cy, cx] = allowed.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A convolution whose weight is multiplied by a fixed causal mask; x (B, in, H, W) -> (B, out, H, W).

    ``kernel`` and ``center`` set the geometry (zero padding keeps the size); ``mask_type`` "A", "B" or None
    (no mask: the vertical stack of the gated PixelCNN, which is made causal by a shift instead).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], center: tuple[int, int],
                 mask_type: MaskType | None, data_channels: int = 1):
        super().__init__(in_channels, out_channels, kernel, padding=0)
        kh, kw = kernel
        cy, cx = center
        self.center, self.mask_type, self.data_channels = (cy, cx), mask_type, data_channels
        self.pads = (cx, kw - 1 - cx, cy, kh - 1 - cy)  # F.pad order: left, right, top, bottom
        mask = causal_mask(out_channels, in_channels, (kh, kw), (cy, cx), mask_type, data_channels)
        self.register_buffer("mask", mask, persistent=False)
        self.needs_mask = not bool(mask.all())

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask if self.needs_mask else self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pads):
            x = F.pad(x, self.pads)
        return F.conv2d(x, self.masked_weight(), self.bias)


def raster_conv(in_channels: int, out_channels: int, k: int, mask_type: MaskType, data_channels: int = 1
                ) -> MaskedConv2d:
    """A k x k causal conv (mask A or B) stored as its (k//2 + 1) x k upper part."""
    return MaskedConv2d(in_channels, out_channels, (k // 2 + 1, k), (k // 2, k // 2), mask_type, data_channels)


def vertical_conv(in_channels: int, out_channels: int, k: int) -> MaskedConv2d:
    """The gated PixelCNN's vertical stack: rows i - k//2 .. i, columns j - k//2 .. j + k//2, unmasked."""
    return MaskedConv2d(in_channels, out_channels, (k // 2 + 1, k), (k // 2, k // 2), None)


def horizontal_conv(in_channels: int, out_channels: int, k: int, mask_type: MaskType, data_channels: int = 1
                    ) -> MaskedConv2d:
    """The gated PixelCNN's horizontal stack: row i, columns j - k//2 .. j (centre channel-masked)."""
    return MaskedConv2d(in_channels, out_channels, (1, k // 2 + 1), (0, k // 2), mask_type, data_channels)


def pointwise_conv(in_channels: int, out_channels: int, data_channels: int = 1) -> MaskedConv2d:
    """A 1x1 conv with the channel mask B (a plain 1x1 conv for one data channel)."""
    return MaskedConv2d(in_channels, out_channels, (1, 1), (0, 0), "B", data_channels)


def gate(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Gated activation tanh(a) * sigmoid(b), with a and b the two halves of ``dim``."""
    a, b = x.chunk(2, dim=dim)
    return torch.tanh(a) * torch.sigmoid(b)
