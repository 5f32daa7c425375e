"""Residual blocks of the SNGAN/SAGAN/BigGAN family: up-sampling generator blocks (optionally with
class-conditional batch norm) and down-sampling discriminator blocks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .norms import ConditionalBatchNorm2d


class UpBlock(nn.Module):
    """x: (B, C_in, H, W) -> (B, C_out, 2H, 2W): BN-ReLU-up-conv3-BN-ReLU-conv3 plus an up-conv1 shortcut.

    ``cond_dim > 0`` makes both norms conditional on a vector ``cond`` (B, cond_dim) (BigGAN);
    otherwise ``cond`` is ignored and plain batch norm is used (SNGAN/SAGAN).
    """

    def __init__(self, c_in: int, c_out: int, cond_dim: int = 0):
        super().__init__()
        self.cond_dim = cond_dim
        self.norm1 = ConditionalBatchNorm2d(c_in, cond_dim) if cond_dim else nn.BatchNorm2d(c_in)
        self.norm2 = ConditionalBatchNorm2d(c_out, cond_dim) if cond_dim else nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def _norm(self, layer: nn.Module, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return layer(x, cond) if self.cond_dim else layer(x)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self._norm(self.norm1, x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self._norm(self.norm2, self.conv1(h), cond)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """x: (B, C_in, H, W) -> (B, C_out, H/2, W/2) (or same size when ``down`` is False).

    ``first``: the SNGAN "optimised" first block (no ReLU before the first conv; the shortcut pools first).
    No normalisation: the discriminators of this family rely on spectral norm.
    """

    def __init__(self, c_in: int, c_out: int, down: bool = True, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if (c_in != c_out or down) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.first:
            s = self.skip(F.avg_pool2d(x, 2) if self.down else x)
        else:
            s = self.skip(x)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s
