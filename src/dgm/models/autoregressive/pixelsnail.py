"""PixelSNAIL-style pixel model (Chen et al. 2018): gated causal convolutions (the Gated PixelCNN's vertical
and horizontal stacks, no blind spot) interleaved with causal self-attention over every earlier pixel, so each
conditional sees the whole image so far rather than a receptive field; the shared likelihood heads (Bernoulli,
256-way, logistic mixture) make it an exact-likelihood model of binary or 8-bit images like the PixelCNNs.

The cached ("fast") sampler is the Gated PixelCNN's (fast_gated.py) with a key/value cache per attention layer:
about one forward pass per image instead of one per value, and the same images as the naive sampler.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import positive
from ...errors import ConfigError
from ...nn.causal_attention import CausalPixelAttention
from ...nn.masked import pointwise_conv
from ..registry import register_model
from .fast_gated import sample_gated_stacks
from .gated import GatedLayer
from .model import AutoregressiveImageModel, Likelihood


class PixelSNAILNet(nn.Module):
    """x (B, C, H, W) in [-1, 1], cond (B, D) or None -> head parameters (B, P*C, H, W)."""

    def __init__(self, data_channels: int, params_per_dim: int, channels: int = 64, blocks: int = 3,
                 layers_per_block: int = 2, kernel: int = 3, first_kernel: int = 7, key_dim: int = 16,
                 value_dim: int = 32, heads: int = 1, out_hidden: int = 64, cond_dim: int = 0):
        super().__init__()
        c = self.data_channels = data_channels
        if channels % c:
            raise ConfigError(f"channels={channels} must be a multiple of the {c} data channels")
        self.first = GatedLayer(c, channels, first_kernel, "A", c, cond_dim, residual=False)
        self.stages = nn.ModuleList(
            nn.ModuleList(GatedLayer(channels, channels, kernel, "B", c, cond_dim) for _ in range(layers_per_block))
            for _ in range(blocks))
        # queries from the first data channel's group of the horizontal stack (features of earlier pixels only);
        # keys and values from all features and the input image
        self.attention = nn.ModuleList(
            CausalPixelAttention(channels // c, channels + c, channels, key_dim, value_dim, heads)
            for _ in range(blocks))
        self.out1 = pointwise_conv(channels, out_hidden, c)
        self.out2 = pointwise_conv(out_hidden, params_per_dim * c, c)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        v, h = self.first(x, x, cond)
        for layers, attention in zip(self.stages, self.attention):
            for layer in layers:
                v, h = layer(v, h, cond)
            h = h + attention(h[:, 0::self.data_channels], torch.cat([h, x], 1))
        return self.out2(torch.relu(self.out1(torch.relu(h))))


def sample_pixelsnail_fast(net: PixelSNAILNet, head, noise: torch.Tensor, cond: torch.Tensor | None = None,
                           progress: bool | None = None) -> torch.Tensor:
    """noise (B, C, H, W, k), cond (B, D) or None -> images (B, C, H, W), as ``naive_sample`` on ``net``: the
    gated stacks from their caches, each block's attention from the keys and values of the pixels drawn."""
    layers = [net.first, *(layer for block in net.stages for layer in block)]
    after = [sum(len(block) for block in net.stages[:n + 1]) for n in range(len(net.stages))]  # a block's last
    return sample_gated_stacks(layers, net.out1, net.out2, head, noise, cond, progress,
                               list(zip(after, net.attention)))


@dataclass(frozen=True)
class PixelSNAILConfig:
    """Widths, depth and attention sizes of the PixelSNAIL-style model, the head ('auto': from the data) and
    class conditioning."""

    channels: int = 64
    blocks: int = 3  # each: layers_per_block gated layers, then causal attention over earlier pixels
    layers_per_block: int = 2
    kernel: int = 3
    first_kernel: int = 7
    key_dim: int = 16
    value_dim: int = 32
    heads: int = 1
    out_hidden: int = 64
    likelihood: Likelihood = "auto"
    mixtures: int = 5
    class_conditional: bool = False

    def __post_init__(self):
        for name in ("channels", "blocks", "kernel", "first_kernel", "key_dim", "value_dim", "heads", "out_hidden",
                     "mixtures"):
            positive(name, getattr(self, name))
        positive("layers_per_block", self.layers_per_block, allow_zero=True)


class PixelSNAIL(AutoregressiveImageModel):
    """PixelSNAIL-style: gated causal convolutions and causal self-attention; exact likelihood."""

    Config = PixelSNAILConfig
    tiny = {"channels": 8, "blocks": 1, "layers_per_block": 1, "key_dim": 4, "value_dim": 4, "out_hidden": 8,
            "mixtures": 2}
    fast_sampler = staticmethod(sample_pixelsnail_fast)

    def build_net(self, config: PixelSNAILConfig, data_channels, params_per_dim, cond_dim):
        return PixelSNAILNet(data_channels, params_per_dim, config.channels, config.blocks, config.layers_per_block,
                             config.kernel, config.first_kernel, config.key_dim, config.value_dim, config.heads,
                             config.out_hidden, cond_dim)


register_model("pixelsnail", PixelSNAIL, "PixelSNAIL-style (Chen et al. 2018): gated causal convolutions with "
               "causal self-attention over all earlier pixels; exact likelihood, cached sampler")
