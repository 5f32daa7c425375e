"""Small convolutional encoder/decoder pairs for images whose sides are divisible by 2**len(channels)."""
from __future__ import annotations

import math

import torch
from torch import nn

from .mlp import activation


class ConvEncoder(nn.Module):
    """x: (B, C, H, W) -> (B, out_dim); 4x4 stride-2 convolutions, then a linear layer."""

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], out_dim: int, act: str = "relu"):
        super().__init__()
        c, h, w = shape
        scale = 2 ** len(channels)
        if h % scale or w % scale:
            raise ValueError(f"image sides {h}x{w} must be divisible by {scale} for {len(channels)} conv layers")
        layers: list[nn.Module] = []
        for ch in channels:
            layers += [nn.Conv2d(c, ch, 4, 2, 1), activation(act)]
            c = ch
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c * (h // scale) * (w // scale), out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    """z: (..., in_dim) -> (..., C_out, H, W); a linear layer, then 4x4 stride-2 transposed convolutions."""

    def __init__(self, in_dim: int, channels: tuple[int, ...], shape: tuple[int, int, int], act: str = "relu"):
        super().__init__()
        c_out, h, w = shape
        scale = 2 ** len(channels)
        self.start = (channels[-1], h // scale, w // scale)
        self.fc = nn.Sequential(nn.Linear(in_dim, math.prod(self.start)), activation(act))
        layers: list[nn.Module] = []
        rev = list(reversed(channels))
        for i, ch in enumerate(rev):
            nxt = rev[i + 1] if i + 1 < len(rev) else c_out
            layers.append(nn.ConvTranspose2d(ch, nxt, 4, 2, 1))
            if i + 1 < len(rev):
                layers.append(activation(act))
        self.net = nn.Sequential(*layers)
        self.out_shape = (c_out, h, w)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        y = self.fc(z.reshape(-1, z.shape[-1])).view(-1, *self.start)
        return self.net(y).view(*lead, *self.out_shape)
