"""Style-based generators sized for 28-32 pixel images: a mapping network z -> w, a learned constant and
per-layer styles with noise; StyleGAN2's (Karras et al. 2020) with style-modulated and demodulated convolutions,
a skip generator (each resolution's toRGB added to the upsampled image so far) and a residual discriminator,
StyleGAN's (Karras et al. 2019) with AdaIN layers and ProGAN's discriminator; equalised learning rate throughout.

The generator also keeps what the style-based tricks need: the tracked mean of w (``w_avg``, for truncation in
W), style mixing regularisation in training (with probability ``style_mixing`` two codes, switched at a random
layer), and ``map`` / ``synthesis`` apart, for path-length regularisation and style-mixing grids. Its output is
linear, as in the paper (images are trained towards [-1, 1]; sampling clamps).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...nn.equalized import EqualizedConv2d, EqualizedLinear
from ...nn.modulated import ModulatedConv2d, NoiseInjection
from ...nn.style import AdaIN
from .networks import NetSpec, architectures, concat_labels, label_maps, stages

SQRT2 = math.sqrt(2.0)


def pixel_norm(z: torch.Tensor) -> torch.Tensor:
    """z / sqrt(mean(z^2) + 1e-8) over the last dimension (B, D) -> (B, D)."""
    return z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-8)


class MappingNetwork(nn.Module):
    """z (B, Z) -> w (B, W): pixel norm, then ``layers`` equalised linear layers with LeakyReLU(0.2), at 0.01
    of the learning rate (StyleGAN's lr multiplier)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualizedLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = pixel_norm(z)
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
        return h


class StyleLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling 2x), noise, bias, LeakyReLU(0.2) * sqrt(2): (B, in, H, W) and
    w (B, W) -> (B, out, H', W')."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, up=up)
        self.noise = NoiseInjection(c_out)
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = self.noise(self.conv(x, w)) + self.bias[None, :, None, None]
        return F.leaky_relu(h, 0.2) * SQRT2


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation, plus bias: (B, C, H, W), w -> (B, image channels, H, W)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class StyleBasedGenerator(nn.Module):
    """What StyleGAN and StyleGAN2 generators share: noise (B, Z) [+ labels, concatenated before the mapping]
    -> w -> per-layer styles (B, num_ws, W) -> images (B, C, H, W); ``num_ws`` = 1 + 2k style inputs (one per
    conv layer) for k upsampling stages from the constant (4x4 for 32x32, 7x7 for 28x28). Subclasses build the
    synthesis layers and ``synthesis``."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        if spec.g_conditioning == "cbn":
            raise ConfigError("style-based generators take labels by concatenation (conditioning.generator: "
                              "concat), not conditional batch norm")
        c_img, h, w = spec.shape
        self.k_stages, h0, w0 = stages(h, w)
        self.c_img, self.ch, self.k, self.w_dim = c_img, spec.channels, spec.g_concat, spec.noise_dim
        self.mapping = MappingNetwork(spec.noise_dim + self.k, self.w_dim, spec.mapping_layers)
        self.const = nn.Parameter(torch.randn(1, self.ch, h0, w0))
        self.num_ws, self.mixing, self.w_avg_beta = 1 + 2 * self.k_stages, spec.style_mixing, 0.995
        self.register_buffer("w_avg", torch.zeros(self.w_dim))

    def map(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """w = mapping([noise, one-hot labels]) (B, W); in training, folds the batch mean into ``w_avg``."""
        w = self.mapping(concat_labels(noise, labels, self.k))
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return w

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """The truncation trick in W: w_avg + psi (w - w_avg) (psi 1: w itself, 0: the mean)."""
        return self.w_avg.to(w.dtype) + psi * (w - self.w_avg.to(w.dtype))

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """(B, W) -> (B, num_ws, W): the same style for every layer."""
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """Per-layer styles (B, num_ws, W) -> images (B, C, H, W)."""
        raise NotImplementedError

    def mix(self, ws: torch.Tensor, other: torch.Tensor, crossover: int) -> torch.Tensor:
        """Styles of ``ws`` (B, num_ws, W) before layer ``crossover``, of ``other`` (B, W) from it on (style
        mixing: 0 gives ``other`` only, num_ws ``ws`` only)."""
        layer = torch.arange(self.num_ws, device=ws.device)[None, :, None]
        return torch.where(layer < crossover, ws, other.unsqueeze(1).to(ws.dtype))

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None, psi: float | None = None
                ) -> torch.Tensor:
        w = self.map(noise, labels)
        if psi is not None:
            w = self.truncate(w, psi)
        ws = self.broadcast(w)
        if self.training and self.mixing > 0 and float(torch.rand(())) < self.mixing:
            # mixing regularisation: a second code takes over from a random layer on
            crossover = int(torch.randint(1, self.num_ws, ()))
            ws = self.mix(ws, self.map(torch.randn_like(noise), labels), crossover)
        return self.synthesis(ws)


class StyleGAN2Generator(StyleBasedGenerator):
    """StyleGAN2's synthesis: modulated convs with noise, and a skip architecture (each resolution's toRGB, from
    its last conv's style, added to the upsampled image so far)."""

    def __init__(self, spec: NetSpec):
        super().__init__(spec)
        ch, w_dim = self.ch, self.w_dim
        self.layers = nn.ModuleList([StyleLayer(ch, ch, w_dim)] + [
            StyleLayer(ch, ch, w_dim, up=(i % 2 == 0)) for i in range(2 * self.k_stages)])
        self.to_rgb = nn.ModuleList(ToRGB(ch, self.c_img, w_dim) for _ in range(self.k_stages + 1))

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(ws.shape[0], -1, -1, -1).to(ws.dtype)
        x = self.layers[0](x, ws[:, 0])
        rgb = self.to_rgb[0](x, ws[:, 0])
        for r in range(1, len(self.to_rgb)):
            i = 2 * r - 1
            x = self.layers[i + 1](self.layers[i](x, ws[:, i]), ws[:, i + 1])
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + self.to_rgb[r](x, ws[:, i + 1])
        return rgb


class AdaINLayer(nn.Module):
    """StyleGAN's layer (Karras et al. 2019): optional 2x upsampling, a 3x3 conv (equalised lr, with bias), noise,
    LeakyReLU(0.2), then AdaIN with the style A(w): (B, in, H, W), w (B, W) -> (B, out, H', W')."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, up: bool = False):
        super().__init__()
        self.conv = EqualizedConv2d(c_in, c_out, 3, padding=1)
        self.noise = NoiseInjection(c_out)
        self.adain = AdaIN(c_out, w_dim, equalized=True)
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.adain(F.leaky_relu(self.noise(self.conv(x)), 0.2), w)


class StyleGANGenerator(StyleBasedGenerator):
    """StyleGAN's synthesis: AdaIN layers with noise on the learned constant (a 3x3 conv on the constant too,
    where the paper applies noise and AdaIN to it directly), one toRGB at the end; no progressive growing."""

    def __init__(self, spec: NetSpec):
        super().__init__(spec)
        ch, w_dim = self.ch, self.w_dim
        self.layers = nn.ModuleList([AdaINLayer(ch, ch, w_dim)] + [
            AdaINLayer(ch, ch, w_dim, up=(i % 2 == 0)) for i in range(2 * self.k_stages)])
        self.to_rgb = EqualizedConv2d(ch, self.c_img, 1, gain=1.0)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(ws.shape[0], -1, -1, -1).to(ws.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i])
        return self.to_rgb(x)


class ResidualDown(nn.Module):
    """(conv3 - LeakyReLU) x 2 then 2x average pooling, plus a pooled 1x1 skip, summed and divided by sqrt(2):
    (B, in, H, W) -> (B, out, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(c_in, c_in, 3, padding=1)
        self.conv2 = EqualizedConv2d(c_in, c_out, 3, padding=1)
        self.skip = EqualizedConv2d(c_in, c_out, 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.avg_pool2d(F.leaky_relu(self.conv2(h), 0.2), 2)
        return (h + self.skip(F.avg_pool2d(x, 2))) / SQRT2


class StyleGAN2Trunk(nn.Module):
    """x (B, C, H, W) [+ label maps] -> features (B, channels * H/2^k * W/2^k): fromRGB, k residual blocks, a
    3x3 conv (the minibatch-std trick, when on, comes after, on the features)."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        c, h, w = spec.shape
        k, h0, w0 = stages(h, w)
        ch = spec.channels
        self.k = spec.num_classes if spec.d_concat else 0
        self.from_rgb = EqualizedConv2d(c + self.k, ch, 1)
        self.blocks = nn.Sequential(*[ResidualDown(ch, ch) for _ in range(k)])
        self.out = EqualizedConv2d(ch, ch, 3, padding=1)
        self.out_features, self.feature_shape = ch * h0 * w0, (ch, h0, w0)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.leaky_relu(self.from_rgb(label_maps(x, labels, self.k) if self.k else x), 0.2)
        return F.leaky_relu(self.out(self.blocks(h)), 0.2).flatten(1)


@architectures.register("stylegan2", help="StyleGAN2: mapping network, modulated convs with noise, skip G; "
                        "residual D (equalised lr)")
def build(spec: NetSpec) -> tuple[nn.Module, nn.Module]:
    return StyleGAN2Generator(spec), StyleGAN2Trunk(spec)


@architectures.register("stylegan", help="StyleGAN: mapping network, AdaIN layers with noise on a learned constant; "
                        "ProGAN's D at full resolution (equalised lr)")
def build_v1(spec: NetSpec) -> tuple[nn.Module, nn.Module]:
    from .progan_nets import ProGANTrunk

    return StyleGANGenerator(spec), ProGANTrunk(spec, growing=False)  # no growing: one fromRGB
