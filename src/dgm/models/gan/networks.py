"""Generator and discriminator networks, chosen by name from a registry of architectures.

Interfaces every architecture keeps:
- generator ``G(noise, labels) -> x``: noise (B, noise_dim) (z plus any InfoGAN codes), labels (B,) or None;
  images (B, C, H, W) in [-1, 1] (tanh), or points (B, D) (linear output);
- discriminator trunk ``T(x, labels) -> h``: features (B, T.out_features); the heads (real/fake logit,
  projection, auxiliary classifier, InfoGAN's Q) live in ``critic.Critic``.
Conditioning the nets themselves do: "concat" (one-hot labels appended to G's noise and to D's input, as
extra channels for images; Mirza & Osindero 2014) and "cbn" (class-conditional batch norm in the ResNet
generator, BigGAN). Conv nets work for any image whose sides halve at least once to a size >= 4
(28x28: 7 -> 14 -> 28; 32x32: 4 -> 8 -> 16 -> 32).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...registry import Registry


@dataclass(frozen=True)
class NetSpec:
    """What an architecture needs to know: the data, the noise size, conditioning and widths."""

    shape: tuple[int, ...]  # (C, H, W) or (D,) for points
    points: bool
    noise_dim: int  # z + InfoGAN codes
    num_classes: int = 0
    g_conditioning: str = "none"  # none | concat | cbn
    d_concat: bool = False  # one-hot labels appended to D's input
    mlp_hidden: tuple[int, ...] = (256, 256)
    channels: int = 64
    d_norm: str = "batch"  # batch | layer | none
    attention: bool = False
    fc_hidden: int = 0  # conv nets: a fully connected layer after G's input and before D's heads (0: none)
    mlp_hidden_d: tuple[int, ...] | None = None  # D's MLP widths (None: mlp_hidden)
    mapping_layers: int = 8  # style-based generators: layers of the mapping network z -> w
    style_mixing: float = 0.0  # style-based generators: probability of mixing regularisation in training
    g_norm: str = "batch"  # DCGAN generator: batch | virtual (batch norm against a fixed reference batch)

    @property
    def g_concat(self) -> int:
        """Extra noise inputs for one-hot labels (0 when G is not concat-conditioned)."""
        return self.num_classes if self.g_conditioning == "concat" else 0


Builder = Callable[[NetSpec], tuple[nn.Module, nn.Module]]
architectures: Registry[Builder] = Registry("GAN architecture")


def build_networks(name: str, spec: NetSpec) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator trunk) of architecture ``name`` for ``spec``; 2-D points always use the MLP
    (and ignore the image nets' options: class-conditional BN, ``fc_hidden``)."""
    if spec.points:  # MLPs for points; class-conditional BN has no place there: labels are concatenated
        name = "mlp"
        if spec.g_conditioning == "cbn":
            spec = dataclasses.replace(spec, g_conditioning="concat")
        spec = dataclasses.replace(spec, fc_hidden=0)  # the MLP's widths are mlp_hidden
    if spec.fc_hidden and name != "dcgan":
        raise ConfigError(f"fc_hidden belongs to the DCGAN nets, not to architecture {name!r}; set it to 0")
    if spec.g_norm == "virtual" and name != "dcgan":
        raise ConfigError(f"networks.g_norm 'virtual' is built for the DCGAN generator, not architecture {name!r}")
    if spec.g_conditioning == "cbn" and name != "resnet":
        raise ConfigError(f"g_conditioning 'cbn' needs architecture 'resnet', not {name!r}; use 'concat'")
    return architectures.get(name)(spec)


def stages(h: int, w: int) -> tuple[int, int, int]:
    """(k, h0, w0): how many times both sides halve (staying even and >= 4), and the size reached."""
    k = 0
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4:
        h, w, k = h // 2, w // 2, k + 1
    if k == 0:
        raise ConfigError(f"conv GANs need image sides that halve to >= 4 at least once, got {h}x{w}; "
                          "use --set data.size=32 or model.architecture=mlp")
    return k, h, w


def d_norm(kind: str, channels: int, flat: bool = False) -> nn.Module:
    """D's normalisation of (B, C, H, W) maps (or, ``flat``, (B, C) features): batch norm, layer norm over
    (C, H, W) (WGAN-GP's advice), or none."""
    if kind == "batch":
        return nn.BatchNorm1d(channels) if flat else nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def label_maps(x: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Append one-hot labels to x: (B, C, H, W) -> (B, C + k, H, W) (or (B, D) -> (B, D + k))."""
    onehot = F.one_hot(labels, k).to(x.dtype)
    if x.dim() == 2:
        return torch.cat([x, onehot], 1)
    return torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)


def concat_labels(noise: torch.Tensor, labels: torch.Tensor | None, k: int) -> torch.Tensor:
    """G's input for concat conditioning: [noise, one_hot(labels)] (or noise when k == 0)."""
    if not k:
        return noise
    if labels is None:
        raise ConfigError("this generator is conditional: pass labels")
    return label_maps(noise, labels, k)


INITS = ("default", "normal", "orthogonal", "xavier")


@torch.no_grad()
def initialise(module: nn.Module, kind: str) -> None:
    """Weight init of conv/linear/embedding layers: "normal" N(0, 0.02) with BN gains N(1, 0.02) (DCGAN),
    "orthogonal" (BigGAN), "xavier" (SNGAN), or PyTorch's default. Biases start at 0. The gain/bias layers of
    conditional BN are initialised like the rest (as in BigGAN), so labels matter from the start; with
    "default" they keep their zero init and the layer starts as plain BN."""
    if kind == "default":
        return
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            if kind == "normal":
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif kind == "orthogonal":
                nn.init.orthogonal_(m.weight)
            else:
                nn.init.xavier_uniform_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) and m.affine and kind == "normal":
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
