"""Style-based convolutional nets (Karras et al. 2019; Pidhorskyi et al. 2020): a generator that starts from a learned
constant and takes its latent w as per-layer styles through adaptive instance normalisation (AdaIN), and the
encoder that mirrors it, reading w back as the sum of every layer's instance-normalisation statistics."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .equalized import EqualizedConv2d, EqualizedLinear


def _conv(c_in: int, c_out: int, k: int, equalized: bool) -> nn.Module:
    return EqualizedConv2d(c_in, c_out, k, padding=k // 2) if equalized else nn.Conv2d(c_in, c_out, k, padding=k // 2)


def _linear(d_in: int, d_out: int, equalized: bool) -> nn.Module:
    return EqualizedLinear(d_in, d_out, gain=1.0) if equalized else nn.Linear(d_in, d_out)


def style_resolutions(side: int, levels: int) -> list[int]:
    """Sides of the feature maps from the base resolution to ``side`` (each twice the last; the image's side must
    be base * 2**(levels - 1), e.g. 28 = 7 * 4 with three levels)."""
    scale = 2 ** (levels - 1)
    if side % scale:
        raise ValueError(f"image side {side} must be divisible by {scale} for {levels} style levels")
    return [side // scale * 2 ** i for i in range(levels)]


def instance_stats(x: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (B, C, H, W) -> the per-image, per-channel mean and standard deviation, each (B, C)."""
    var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False)
    return mean, (var + eps).sqrt()


class AdaIN(nn.Module):
    """x: (B, C, H, W), w: (B, w_dim) -> instance-normalised x scaled by (1 + s(w)) and shifted by b(w) per channel
    (the 1 + keeps a freshly initialised layer near the identity style)."""

    def __init__(self, channels: int, w_dim: int, equalized: bool = False):
        super().__init__()
        self.style = _linear(w_dim, 2 * channels, equalized)
        nn.init.zeros_(self.style.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.style(w)[:, :, None, None].chunk(2, 1)
        mean, std = instance_stats(x)
        return (x - mean[:, :, None, None]) / std[:, :, None, None] * (1 + scale) + bias


class StyleGenerator(nn.Module):
    """w: (B, w_dim) -> images (B, C, H, W) in [-1, 1]. A learned constant at the base resolution, then per level
    (nearest 2x upsampling from the second on) a 3x3 convolution, AdaIN from w and leaky ReLU 0.2; a 1x1 convolution
    to the image's channels and tanh. ``channels``: widths from the base level up. No per-pixel noise: decoding is
    deterministic, so reconstructions and evaluations repeat exactly. ``equalized``: equalised-lr layers."""

    def __init__(self, w_dim: int, shape: tuple[int, int, int], channels: tuple[int, ...], equalized: bool = False):
        super().__init__()
        c_out, h, w = shape
        if h != w:
            raise ValueError(f"style-based nets take square images, got {h}x{w}")
        base = style_resolutions(h, len(channels))[0]
        self.constant = nn.Parameter(torch.ones(1, channels[0], base, base))
        self.convs = nn.ModuleList(_conv(c_in, c, 3, equalized)
                                   for c_in, c in zip((channels[0],) + tuple(channels[:-1]), channels))
        self.styles = nn.ModuleList(AdaIN(c, w_dim, equalized) for c in channels)
        self.to_image = _conv(channels[-1], c_out, 1, equalized)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.constant.expand(len(w), -1, -1, -1)
        for i, (conv, style) in enumerate(zip(self.convs, self.styles)):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest") if i else x
            x = F.leaky_relu(style(conv(x), w), 0.2)
        return torch.tanh(self.to_image(x))


class StyleEncoder(nn.Module):
    """x: (B, C, H, W) -> w (B, w_dim), ALAE's style encoder: a 1x1 convolution from the image, then per level (the
    generator's, mirrored) a 3x3 convolution and leaky ReLU 0.2, whose instance-normalisation statistics
    [mean, std] a linear map turns into that level's share of w; the normalised maps go on, 2x average-pooled.
    ``channels``: the generator's widths from its base level up (used here in reverse); ``equalized``: equalised-lr
    layers."""

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], w_dim: int, equalized: bool = False):
        super().__init__()
        c_in, h, _ = shape
        style_resolutions(h, len(channels))
        widths = tuple(reversed(channels))
        self.from_image = _conv(c_in, widths[0], 1, equalized)
        self.convs = nn.ModuleList(_conv(a, b, 3, equalized) for a, b in zip(widths[:1] + widths[:-1], widths))
        self.to_style = nn.ModuleList(_linear(2 * c, w_dim, equalized) for c in widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.from_image(x), 0.2)
        w = 0.0
        for i, (conv, to_style) in enumerate(zip(self.convs, self.to_style)):
            x = x if i == 0 else F.avg_pool2d(x, 2)
            x = F.leaky_relu(conv(x), 0.2)
            mean, std = instance_stats(x)
            w = w + to_style(torch.cat([mean, std], 1))
            x = (x - mean[:, :, None, None]) / std[:, :, None, None]
        return w
