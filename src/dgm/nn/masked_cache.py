"""Incremental evaluation of masked convolutions, for fast autoregressive sampling (separate from the nets).

A masked conv's output at pixel (i, j) reads only inputs at or before (i, j) in raster order, so a sampler
can keep each layer's zero-padded input in a cache, write one pixel (or one row) of it as soon as it is
known, and compute that layer's output at just that pixel: the whole network costs about one forward pass
per image instead of one per pixel (as in Ramachandran et al. 2017, "Fast generation for convolutional
autoregressive models"). The caches are channels-last so a pixel's receptive window is one small slice.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .masked import MaskedConv2d


class ConvCache:
    """The zero-padded input of one ``MaskedConv2d`` for a batch, (B, H + pad, W + pad, in) channels-last.

    ``write``/``write_row`` store inputs as they become known; ``at(i, j)`` -> (B, out) and ``row(i)`` ->
    (B, W, out) evaluate the conv at one pixel / along one row from what has been written.
    """

    def __init__(self, conv: MaskedConv2d, batch: int, height: int, width: int, dtype: torch.dtype,
                 device: torch.device | str = "cpu"):
        left, right, top, bottom = conv.pads
        self.kh, self.kw = conv.kernel_size
        self.top, self.left = top, left
        self.width = width
        c_in = conv.in_channels
        self.buf = torch.zeros(batch, height + top + bottom, width + left + right, c_in, dtype=dtype, device=device)
        w = conv.masked_weight().detach().to(dtype)
        self.weight = w  # (out, in, kh, kw), for whole rows
        self.matrix = w.permute(2, 3, 1, 0).reshape(self.kh * self.kw * c_in, -1).contiguous()  # (kh*kw*in, out)
        self.bias = conv.bias.detach().to(dtype) if conv.bias is not None else None

    def write(self, i: int, j: int, value: torch.Tensor, channel: int | None = None) -> None:
        """value: (B, in) = the conv's input at pixel (i, j); or (B,) = input channel ``channel`` there."""
        if channel is None:
            self.buf[:, i + self.top, j + self.left] = value
        else:
            self.buf[:, i + self.top, j + self.left, channel] = value

    def get(self, i: int, j: int) -> torch.Tensor:
        """The stored input at pixel (i, j): (B, in)."""
        return self.buf[:, i + self.top, j + self.left]

    def write_row(self, i: int, value: torch.Tensor) -> None:
        """value: (B, W, in) = the conv's input along row i."""
        self.buf[:, i + self.top, self.left:self.left + self.width] = value

    def at(self, i: int, j: int) -> torch.Tensor:
        """The conv's output at pixel (i, j): (B, out)."""
        window = self.buf[:, i:i + self.kh, j:j + self.kw].reshape(self.buf.shape[0], -1)
        out = window @ self.matrix
        return out + self.bias if self.bias is not None else out

    def row(self, i: int) -> torch.Tensor:
        """The conv's output along row i: (B, W, out)."""
        slab = self.buf[:, i:i + self.kh].permute(0, 3, 1, 2)  # (B, in, kh, W + pads)
        out = F.conv2d(slab, self.weight, self.bias)  # (B, out, 1, W)
        return out[:, :, 0].transpose(1, 2)


def pointwise(conv: MaskedConv2d, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A 1x1 masked conv as a matrix (in, out) and bias (out,), for use on (..., in) vectors."""
    w = conv.masked_weight().detach().to(dtype)[:, :, 0, 0].t().contiguous()
    b = conv.bias.detach().to(dtype) if conv.bias is not None else None
    return w, b


def apply_pointwise(x: torch.Tensor, wb: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
    """x: (..., in) -> (..., out) with a matrix and bias from ``pointwise``."""
    w, b = wb
    return torch.addmm(b, x, w) if (b is not None and x.dim() == 2) else (x @ w + b if b is not None else x @ w)
