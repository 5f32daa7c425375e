"""Fully convolutional encoder and decoder between an image and a smaller feature map (VQ-VAE, van den Oord
et al. 2017, section 4.1): 4x4 stride-2 convolutions down (transposed up), a 3x3 convolution, and a stack of
residual blocks (ReLU, 3x3 conv, ReLU, 1x1 conv)."""
from __future__ import annotations

import torch
from torch import nn


class ResidualStack(nn.Module):
    """x: (B, C, H, W) -> same shape; ``blocks`` blocks x + conv1x1(relu(conv3x3(relu(x)))), then a ReLU."""

    def __init__(self, channels: int, blocks: int, hidden: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(hidden, channels, 1)) for _ in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return torch.relu(x)


class StridedEncoder(nn.Module):
    """x: (B, C_in, H, W) -> (B, C_out, H / 2^down, W / 2^down); sides must be divisible by 2^down."""

    def __init__(self, c_in: int, c_out: int, hidden: int, down: int, res_blocks: int, res_hidden: int):
        super().__init__()
        if down < 1:
            raise ValueError(f"StridedEncoder needs at least one stride-2 layer, got down={down}")
        self.down = down
        layers: list[nn.Module] = []
        c = c_in
        for i in range(down):
            width = hidden if i == down - 1 else max(1, hidden // 2)
            layers += [nn.Conv2d(c, width, 4, 2, 1), nn.ReLU()]
            c = width
        layers += [nn.Conv2d(c, hidden, 3, padding=1), ResidualStack(hidden, res_blocks, res_hidden),
                   nn.Conv2d(hidden, c_out, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 2 ** self.down or w % 2 ** self.down:
            raise ValueError(f"image sides {h}x{w} must be divisible by {2 ** self.down} for {self.down} "
                             "stride-2 layers")
        return self.net(x)


class StridedDecoder(nn.Module):
    """z: (B, C_in, h, w) -> (B, C_out, h 2^up, w 2^up): the mirror of StridedEncoder."""

    def __init__(self, c_in: int, c_out: int, hidden: int, up: int, res_blocks: int, res_hidden: int):
        super().__init__()
        if up < 1:
            raise ValueError(f"StridedDecoder needs at least one stride-2 layer, got up={up}")
        layers: list[nn.Module] = [nn.Conv2d(c_in, hidden, 3, padding=1), ResidualStack(hidden, res_blocks, res_hidden)]
        c = hidden
        for i in range(up):
            last = i == up - 1
            width = c_out if last else max(1, hidden // 2)
            layers.append(nn.ConvTranspose2d(c, width, 4, 2, 1))
            if not last:
                layers.append(nn.ReLU())
            c = width
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
