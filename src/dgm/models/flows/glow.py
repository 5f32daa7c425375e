"""Glow (Kingma & Dhariwal 2018): per level, squeeze then K steps of ActNorm, invertible 1x1 convolution
(LU-decomposed by default) and affine coupling; between levels half the channels are factored out with a
learned conditional Gaussian prior (an affine coupling on the kept half, then factor-out)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import positive
from ...errors import ConfigError
from ..registry import register_model
from .bijector import Bijector, Chain
from .coupling import ConvNet, Coupling, zero_conv
from .invconv import InvConv1x1, InvConv1x1LU
from .model import FlowConfig, FlowModel
from .normalization import ActNorm
from .reshape import FactorOut, Squeeze

INVCONV = {True: InvConv1x1LU, False: InvConv1x1}


@dataclass(frozen=True)
class GlowConfig(FlowConfig):
    preprocess: Literal["logit", "center", "none"] = "center"
    channels: int = 128  # hidden feature maps of each coupling network
    depth: int = 8  # steps of flow per level (K)
    levels: int = 2  # squeezes (L); 28x28 -> 14x14 -> 7x7
    lu: bool = True  # LU-decomposed 1x1 convolutions
    coupling: Literal["affine", "additive"] = "affine"

    def __post_init__(self):
        super().__post_init__()
        for name in ("channels", "depth", "levels"):
            positive(name, getattr(self, name))


def flow_step(shape, cfg: GlowConfig) -> list[Bijector]:
    c = shape[0]
    affine = cfg.coupling == "affine"
    net = ConvNet(c, cfg.channels, (2 if affine else 1) * c)
    return [ActNorm(c), INVCONV[cfg.lu](c), Coupling(shape, "channel", 0, net, "sigmoid" if affine else "none")]


def level(shape: tuple[int, int, int], index: int, cfg: GlowConfig) -> Bijector:
    c, h, w = shape
    if h % 2 or w % 2:
        raise ConfigError(f"glow with levels={cfg.levels} needs sides divisible by {2 ** cfg.levels}; got "
                          f"{h}x{w} at level {index}: lower model.levels")
    sq = (4 * c, h // 2, w // 2)
    layers: list[Bijector] = [Squeeze()]
    for _ in range(cfg.depth):
        layers += flow_step(sq, cfg)
    if index < cfg.levels - 1:
        # learned prior of the factored-out half given the kept half: z = (x - mu(kept)) * exp(-log_sigma(kept))
        layers.append(Coupling(sq, "channel", 1, zero_conv(sq[0], 2 * sq[0]), "tanh"))
        layers.append(FactorOut(sq, level((2 * c, h // 2, w // 2), index + 1, cfg), out_channels=2 * c))
    return Chain(layers)


class Glow(FlowModel):
    Config = GlowConfig
    tiny = {"channels": 8, "depth": 1, "levels": 2}

    def build_flow(self, config: GlowConfig, shape):
        return level(shape, 0, config)


register_model("glow", Glow, "Glow (Kingma & Dhariwal 2018): ActNorm, invertible 1x1 convs (LU), affine "
               "couplings, multi-scale with learned priors", train={"lr": 1e-3, "batch_size": 64})
