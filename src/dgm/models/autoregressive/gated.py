"""Gated PixelCNN (van den Oord et al. 2016, "Conditional image generation with PixelCNN decoders"): a
vertical stack (rows above) and a horizontal stack (the row so far) with no blind spot, gated tanh x sigmoid
units, and class-conditional (or any conditioning vector) inputs."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import positive
from ...errors import ConfigError
from ...nn.masked import MaskedConv2d, MaskType, gate, horizontal_conv, pointwise_conv, vertical_conv
from ..registry import register_model
from .fast_gated import sample_gated_fast
from .model import AutoregressiveImageModel, Likelihood


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> row i holds row i - 1 (zeros in row 0): the vertical stack then sees rows < i only."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class GatedLayer(nn.Module):
    """One layer of both stacks. v (B, in, H, W), h (B, in, H, W), cond (B, D) or None, cond_map (B, M, H, W)
    or None (conditioning known at every position, e.g. a coarser code map: no mask applies) -> (v', h')."""

    def __init__(self, in_channels: int, channels: int, kernel: int, mask_type: MaskType, data_channels: int,
                 cond_dim: int = 0, residual: bool = True, map_channels: int = 0):
        super().__init__()
        self.v_conv = vertical_conv(in_channels, 2 * channels, kernel)
        self.h_conv = horizontal_conv(in_channels, 2 * channels, kernel, mask_type, data_channels)
        self.v_to_h = MaskedConv2d(2 * channels, 2 * channels, (1, 1), (0, 0), None)  # from the row above
        self.h_out = pointwise_conv(channels, channels, data_channels)
        self.cond = nn.Linear(cond_dim, 4 * channels, bias=False) if cond_dim else None
        self.cond_map = nn.Conv2d(map_channels, 4 * channels, 1, bias=False) if map_channels else None
        self.residual = residual

    def forward(self, v, h, cond=None, cond_map=None):
        v_pre, h_pre = self.v_conv(v), self.h_conv(h)
        if self.cond is not None and cond is not None:
            cv, ch = self.cond(cond)[:, :, None, None].chunk(2, dim=1)
            v_pre, h_pre = v_pre + cv, h_pre + ch
        if self.cond_map is not None and cond_map is not None:
            cv, ch = self.cond_map(cond_map).chunk(2, dim=1)
            v_pre, h_pre = v_pre + cv, h_pre + ch
        h_pre = h_pre + self.v_to_h(shift_down(v_pre))
        h_new = self.h_out(gate(h_pre))
        return gate(v_pre), (h + h_new if self.residual else h_new)


class GatedPixelCNNNet(nn.Module):
    """x (B, C, H, W) in [-1, 1] (or ``in_channels`` features of one data channel: embedded codes), cond (B, D)
    or None, cond_map (B, M, H, W) or None -> head parameters (B, P*C, H, W)."""

    def __init__(self, data_channels: int, params_per_dim: int, channels: int = 64, layers: int = 8,
                 kernel: int = 3, first_kernel: int = 7, out_hidden: int = 64, cond_dim: int = 0,
                 in_channels: int | None = None, map_channels: int = 0):
        super().__init__()
        c = data_channels
        if channels % c:
            raise ConfigError(f"channels={channels} must be a multiple of the {c} data channels (gates pair "
                              "channel i with channel i + channels)")
        if in_channels is not None and c != 1:
            raise ConfigError("in_channels (features per position) needs one data channel")
        self.layers = nn.ModuleList(
            [GatedLayer(in_channels or c, channels, first_kernel, "A", c, cond_dim, False, map_channels)]
            + [GatedLayer(channels, channels, kernel, "B", c, cond_dim, True, map_channels)
               for _ in range(layers - 1)])
        self.out1 = pointwise_conv(channels, out_hidden, c)
        self.out2 = pointwise_conv(out_hidden, params_per_dim * c, c)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, cond_map: torch.Tensor | None = None
                ) -> torch.Tensor:
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, cond, cond_map)
        return self.out2(torch.relu(self.out1(torch.relu(h))))


@dataclass(frozen=True)
class GatedPixelCNNConfig:
    """Widths and depth of the gated PixelCNN, the head ('auto': from the data) and class conditioning."""

    channels: int = 64  # feature maps per stack
    layers: int = 8  # gated layers (the first one has the 7x7 mask-A receptive field)
    kernel: int = 3
    first_kernel: int = 7
    out_hidden: int = 64
    likelihood: Likelihood = "auto"
    mixtures: int = 5
    class_conditional: bool = False  # condition on the dataset's labels (sample(labels=...))

    def __post_init__(self):
        for name in ("channels", "layers", "kernel", "first_kernel", "out_hidden", "mixtures"):
            positive(name, getattr(self, name))


class GatedPixelCNN(AutoregressiveImageModel):
    """Gated PixelCNN; the fast sampler computes the vertical stack once per row and the horizontal stack
    one pixel at a time from caches."""

    Config = GatedPixelCNNConfig
    tiny = {"channels": 8, "layers": 2, "out_hidden": 8, "mixtures": 2}
    fast_sampler = staticmethod(sample_gated_fast)

    def build_net(self, config: GatedPixelCNNConfig, data_channels, params_per_dim, cond_dim):
        return GatedPixelCNNNet(data_channels, params_per_dim, config.channels, config.layers, config.kernel,
                                config.first_kernel, config.out_hidden, cond_dim)


register_model("gated-pixelcnn", GatedPixelCNN, "Gated PixelCNN (van den Oord et al. 2016): vertical and "
               "horizontal stacks, gated units, optional class conditioning; exact likelihood")
