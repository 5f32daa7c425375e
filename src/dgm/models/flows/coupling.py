"""Coupling layers: additive (NICE, Dinh et al. 2015) and affine (RealNVP, Dinh et al. 2017; Glow, Kingma &
Dhariwal 2018), with checkerboard, channel and alternating masks, and the networks that parametrise them.

With a binary mask m over the event shape, y = m * x + (1 - m) * (x * exp(s) + t) where (s, t) = net(m * x):
one formulation for every mask (a channel mask just leaves the net's masked inputs at zero), and the
log-determinant is the sum of s over the transformed part.
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.mlp import MLP
from .bijector import Bijector, batch_sum, bijectors

Scale = Literal["none", "tanh", "sigmoid"]


def checkerboard(shape: tuple[int, ...], parity: int) -> torch.Tensor:
    """1 where (row + column) % 2 == parity, on every channel: (C, H, W)."""
    c, h, w = shape
    ij = torch.arange(h)[:, None] + torch.arange(w)[None, :]
    return ((ij % 2) == parity).float().expand(c, h, w).clone()


def channel_half(shape: tuple[int, ...], parity: int) -> torch.Tensor:
    """1 on the first half of the channels (parity 0) or the second half (parity 1): (C, H, W)."""
    mask = torch.zeros(shape)
    half = shape[0] // 2
    mask[:half] = 1.0
    return mask if parity == 0 else 1.0 - mask


def alternate(shape: tuple[int, ...], parity: int) -> torch.Tensor:
    """1 on the even (parity 0) or odd elements of the flattened event (NICE's partition)."""
    n = int(torch.tensor(shape).prod())
    return ((torch.arange(n) % 2) == parity).float().view(shape)


MASKS: dict[str, Callable[[tuple[int, ...], int], torch.Tensor]] = {
    "checkerboard": checkerboard, "channel": channel_half, "alternate": alternate}


class Coupling(Bijector):
    """Additive (``scale="none"``: net gives t) or affine coupling (net gives (raw, t); s = a * tanh(raw) with a
    learned per-channel a, as RealNVP, or s = log sigmoid(raw + 2), as Glow). ``net``: (B, C, ...) ->
    (B, k * C, ...), k = 1 (additive) or 2 (affine); a zero-initialised last layer starts at the identity."""

    def __init__(self, shape: tuple[int, ...], mask: str, parity: int, net: nn.Module, scale: Scale = "tanh"):
        super().__init__()
        self.register_buffer("mask", MASKS[mask](tuple(shape), parity), persistent=False)
        self.net, self.scale = net, scale
        if scale == "tanh":
            self.tanh_scale = nn.Parameter(torch.ones(shape[0], *[1] * (len(shape) - 1)))

    def _shift_and_log_scale(self, conditioner: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        out = self.net(conditioner)
        if self.scale == "none":
            return None, out
        raw, t = out.chunk(2, dim=1)
        s = self.tanh_scale * torch.tanh(raw) if self.scale == "tanh" else F.logsigmoid(raw + 2.0)
        return s * (1 - self.mask), t

    def forward(self, x):
        m = self.mask
        s, t = self._shift_and_log_scale(x * m)
        if s is None:
            return x + (1 - m) * t, x.new_zeros(x.shape[0])
        return x * m + (1 - m) * (x * torch.exp(s) + t), batch_sum(s)

    def inverse(self, y):
        m = self.mask
        s, t = self._shift_and_log_scale(y * m)
        if s is None:
            return y - (1 - m) * t
        return y * m + (1 - m) * ((y - t) * torch.exp(-s))


def zero_conv(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Conv2d:
    """A same-size conv initialised to zero (the last layer of coupling nets: the coupling starts as identity)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(torch.relu(self.conv1(torch.relu(x))))


class ConvNet(nn.Sequential):
    """(B, in, H, W) -> (B, out, H, W): 3x3 conv, ``blocks`` residual blocks, 1x1 conv, zero-init 3x3 conv
    (Glow's coupling network for blocks=0, a RealNVP-style ResNet for blocks > 0)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, blocks: int = 0):
        super().__init__(nn.Conv2d(in_channels, hidden, 3, padding=1), *[ResidualBlock(hidden) for _ in range(blocks)],
                         nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(), zero_conv(hidden, out_channels))


class MLPNet(nn.Module):
    """(B, *shape) -> (B, k * shape[0], *shape[1:]) through an MLP on the flattened event (NICE)."""

    def __init__(self, shape: tuple[int, ...], hidden: tuple[int, ...], k: int = 1, act: str = "relu"):
        super().__init__()
        d = int(torch.tensor(shape).prod())
        self.out_shape = (k * shape[0], *shape[1:])
        self.mlp = MLP(d, hidden, k * d, act)
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x):
        return self.mlp(x.flatten(1)).view(x.shape[0], *self.out_shape)


@bijectors.register("additive-coupling", help="NICE coupling, MLP net, alternating mask")
def _additive_example(shape):
    return Coupling(shape, "alternate", 1, MLPNet(shape, (16,), 1), "none")


@bijectors.register("affine-coupling-checkerboard", help="RealNVP coupling, conv ResNet, checkerboard mask")
def _checkerboard_example(shape):
    return Coupling(shape, "checkerboard", 0, ConvNet(shape[0], 8, 2 * shape[0], 1), "tanh")


@bijectors.register("affine-coupling-channel", help="Glow coupling, conv net, channel mask")
def _channel_example(shape):
    return Coupling(shape, "channel", 1, ConvNet(shape[0], 8, 2 * shape[0]), "sigmoid")
