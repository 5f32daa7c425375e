"""PixelCNN (van den Oord et al. 2016, "Pixel recurrent neural networks"): a 7x7 mask-A convolution,
residual blocks around masked 3x3 mask-B convolutions, and a 1x1 output head, with channel masks (R before
G before B) for colour images."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import positive
from ...nn.masked import pointwise_conv, raster_conv
from ..registry import register_model
from .fast_pixelcnn import sample_pixelcnn_fast
from .model import AutoregressiveImageModel, Likelihood


class ResidualBlock(nn.Module):
    """The paper's block: ReLU, 1x1 (2h -> h), ReLU, k x k mask B (h -> h), ReLU, 1x1 (h -> 2h), plus x."""

    def __init__(self, channels: int, kernel: int, data_channels: int):
        super().__init__()
        half = channels // 2
        self.reduce = pointwise_conv(channels, half, data_channels)
        self.conv = raster_conv(half, half, kernel, "B", data_channels)
        self.expand = pointwise_conv(half, channels, data_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.conv(torch.relu(self.reduce(torch.relu(x))))
        return x + self.expand(torch.relu(t))


class PixelCNNNet(nn.Module):
    """x (B, C, H, W) in [-1, 1] -> head parameters (B, P*C, H, W); every output at pixel i sees only
    values before i (raster order, then channel order)."""

    def __init__(self, data_channels: int, params_per_dim: int, channels: int = 64, blocks: int = 7,
                 kernel: int = 3, first_kernel: int = 7, out_hidden: int = 64):
        super().__init__()
        c = data_channels
        self.input = raster_conv(c, channels, first_kernel, "A", c)
        self.blocks = nn.ModuleList(ResidualBlock(channels, kernel, c) for _ in range(blocks))
        self.out1 = pointwise_conv(channels, out_hidden, c)
        self.out2 = pointwise_conv(out_hidden, params_per_dim * c, c)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input(x)
        for block in self.blocks:
            h = block(h)
        return self.out2(torch.relu(self.out1(torch.relu(h))))


@dataclass(frozen=True)
class PixelCNNConfig:
    """Widths and depth of the PixelCNN; the likelihood head ('auto': from the data)."""

    channels: int = 64  # feature maps between blocks (2h in the paper)
    blocks: int = 7  # residual blocks
    kernel: int = 3
    first_kernel: int = 7
    out_hidden: int = 64  # width of the 1x1 output layer
    likelihood: Likelihood = "auto"  # bernoulli for binary data, logistic_mixture for 8-bit, or categorical
    mixtures: int = 5  # logistics per value (logistic_mixture)

    def __post_init__(self):
        for name in ("channels", "kernel", "first_kernel", "out_hidden", "mixtures"):
            positive(name, getattr(self, name))
        positive("blocks", self.blocks, allow_zero=True)
        positive("channels // 2", self.channels // 2)


class PixelCNN(AutoregressiveImageModel):
    """PixelCNN with an exact log-likelihood; the fast sampler caches every layer's input (one pass/image)."""

    Config = PixelCNNConfig
    tiny = {"channels": 8, "blocks": 1, "out_hidden": 8, "mixtures": 2}
    fast_sampler = staticmethod(sample_pixelcnn_fast)

    def build_net(self, config: PixelCNNConfig, data_channels, params_per_dim, cond_dim):
        return PixelCNNNet(data_channels, params_per_dim, config.channels, config.blocks, config.kernel,
                           config.first_kernel, config.out_hidden)


register_model("pixelcnn", PixelCNN, "PixelCNN (van den Oord et al. 2016): masked convolutions, exact "
               "likelihood; Bernoulli head for binary data, discretised logistic mixture for 8-bit")
