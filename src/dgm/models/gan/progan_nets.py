"""ProGAN networks (Karras et al. 2018): progressive growing with fade-in, equalised learning rate, pixel
normalisation; the minibatch-std trick and WGAN-GP with the drift term come from the preset.

Every resolution's layers exist from the start (so the optimizers, checkpoints and EMA never change shape); the
growth state (``level``: the highest active resolution, ``alpha``: the fade-in weight of its layers) is a pair of
buffers both networks hold, set from the number of images seen (``growth``), so a run stopped in the middle of a
fade-in resumes bit-exactly. The generator always returns full-size images (its current resolution upsampled by
nearest neighbour) and the discriminator always takes them (average-pooled down to its current resolution), so
the data pipeline never changes: reals are seen at the current resolution exactly as ProGAN downsamples them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.equalized import EqualizedConv2d, EqualizedLinear
from .networks import NetSpec, architectures, concat_labels, label_maps, stages
from .style_nets import pixel_norm


def growth(images: int, phase_images: int, levels: int) -> tuple[int, float]:
    """(level, alpha) after ``images`` training images: level 0 (the base resolution) for one phase, then for
    each next level a fade-in phase (alpha 0 -> 1 linearly) and a stabilising phase (alpha 1); ``levels`` is the
    highest level. ``phase_images`` 0: no growing (the highest level from the start)."""
    if phase_images <= 0:
        return levels, 1.0
    phase = images // phase_images
    level = min((phase + 1) // 2, levels)
    if level == levels and phase >= 2 * levels:
        return levels, 1.0
    alpha = (images % phase_images) / phase_images if phase % 2 == 1 else 1.0
    return level, alpha


class _Growing(nn.Module):
    """The growth buffers shared by both networks."""

    def __init__(self, levels: int):
        super().__init__()
        self.levels = levels
        self.register_buffer("level", torch.tensor(levels))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_growth(self, level: int, alpha: float) -> None:
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def state(self) -> tuple[int, float]:
        return int(self.level), float(self.alpha)


def _conv(c_in: int, c_out: int) -> nn.Module:
    return EqualizedConv2d(c_in, c_out, 3, padding=1)


class ProGANGenerator(_Growing):
    """noise (B, Z) [+ labels] -> images (B, C, H, W) (linear output): pixel norm, a dense layer to the base
    resolution and a 3x3 conv, then per level a 2x nearest upsampling and two 3x3 convs (LeakyReLU(0.2) and pixel
    norm after each), toRGB (1x1) per level; while fading in, the new level's image is blended with the previous
    level's, upsampled."""

    def __init__(self, spec: NetSpec):
        c_img, h, w = spec.shape
        k, self.h0, self.w0 = stages(h, w)
        super().__init__(k)
        ch, self.k = spec.channels, spec.g_concat
        self.dense = EqualizedLinear(spec.noise_dim + self.k, ch * self.h0 * self.w0, gain=2 ** 0.5 / 4)
        self.base = _conv(ch, ch)
        self.blocks = nn.ModuleList(nn.ModuleList([_conv(ch, ch), _conv(ch, ch)]) for _ in range(k))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(ch, c_img, 1, gain=1.0) for _ in range(k + 1))
        self.ch = ch

    @staticmethod
    def _act(h: torch.Tensor) -> torch.Tensor:
        return pixel_norm(F.leaky_relu(h, 0.2).movedim(1, -1)).movedim(-1, 1)  # pixel norm over channels

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        level, alpha = self.state()
        z = pixel_norm(concat_labels(noise, labels, self.k))
        h = self._act(self.dense(z).view(-1, self.ch, self.h0, self.w0))
        h = self._act(self.base(h))
        previous = h
        for r in range(level):
            previous = h
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            for conv in self.blocks[r]:
                h = self._act(conv(h))
        out = self.to_rgb[level](h)
        if level > 0 and alpha < 1.0:  # fade-in: the previous level's image, upsampled, carries 1 - alpha
            low = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            out = torch.lerp(low, out, alpha)
        if level < self.levels:
            out = F.interpolate(out, scale_factor=2 ** (self.levels - level), mode="nearest")
        return out


class ProGANTrunk(_Growing):
    """x (B, C, H, W) [+ label maps] -> features (B, channels * H0 * W0): x average-pooled to the current
    resolution, fromRGB (1x1), per level down two 3x3 convs and 2x average pooling, then a 3x3 conv at the base
    resolution; while fading in, the first block's output is blended with fromRGB of the input pooled once more
    (the minibatch-std trick, when on, comes after, on the features). ``growing=False`` (StyleGAN's D, always at
    full resolution): only the full resolution's fromRGB, the lower levels' slots empty (same state-dict names)."""

    def __init__(self, spec: NetSpec, growing: bool = True):
        c, h, w = spec.shape
        k, h0, w0 = stages(h, w)
        super().__init__(k)
        ch = spec.channels
        self.k = spec.num_classes if spec.d_concat else 0
        self.growing = growing
        self.from_rgb = nn.ModuleList(EqualizedConv2d(c + self.k, ch, 1) if growing or i == k else nn.Identity()
                                      for i in range(k + 1))
        self.blocks = nn.ModuleList(nn.ModuleList([_conv(ch, ch), _conv(ch, ch)]) for _ in range(k))
        self.base = _conv(ch, ch)
        self.out_features, self.feature_shape = ch * h0 * w0, (ch, h0, w0)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        level, alpha = self.state()
        x = label_maps(x, labels, self.k) if self.k else x
        if level < self.levels:
            x = F.avg_pool2d(x, 2 ** (self.levels - level))
        h = F.leaky_relu(self.from_rgb[level](x), 0.2)
        for r in reversed(range(level)):
            for conv in self.blocks[r]:
                h = F.leaky_relu(conv(h), 0.2)
            h = F.avg_pool2d(h, 2)
            if r == level - 1 and alpha < 1.0:  # fade-in: the input at the previous level carries 1 - alpha
                low = F.leaky_relu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), 0.2)
                h = torch.lerp(low, h, alpha)
        return F.leaky_relu(self.base(h), 0.2).flatten(1)


@architectures.register("progan", help="ProGAN: progressive growing with fade-in, pixel norm, equalised lr")
def build(spec: NetSpec) -> tuple[nn.Module, nn.Module]:
    return ProGANGenerator(spec), ProGANTrunk(spec)
