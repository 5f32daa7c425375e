"""RealNVP (Dinh et al. 2017): affine couplings with checkerboard then channel masks, squeeze, and the
multi-scale architecture that factors out half the channels at each scale; logit preprocessing."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import positive
from ...errors import ConfigError
from ..registry import register_model
from .bijector import Bijector, Chain
from .coupling import ConvNet, Coupling
from .model import FlowConfig, FlowModel
from .reshape import FactorOut, Squeeze


@dataclass(frozen=True)
class RealNVPConfig(FlowConfig):
    channels: int = 64  # hidden feature maps of each coupling ResNet
    blocks: int = 2  # residual blocks per coupling ResNet
    scales: int = 3  # scales: scales - 1 squeeze + factor-out steps, then a final scale

    def __post_init__(self):
        super().__post_init__()
        for name in ("channels", "scales"):
            positive(name, getattr(self, name))
        positive("blocks", self.blocks, allow_zero=True)


def coupling(shape, mask: str, parity: int, cfg: RealNVPConfig) -> Coupling:
    return Coupling(shape, mask, parity, ConvNet(shape[0], cfg.channels, 2 * shape[0], cfg.blocks), "tanh")


def scale_block(shape: tuple[int, int, int], level: int, cfg: RealNVPConfig) -> Bijector:
    """3 checkerboard couplings, squeeze, 3 channel couplings, factor out half, recurse; the last scale has
    4 checkerboard couplings."""
    if level == cfg.scales - 1:
        return Chain([coupling(shape, "checkerboard", i % 2, cfg) for i in range(4)])
    c, h, w = shape
    if h % 2 or w % 2:
        raise ConfigError(f"realnvp with scales={cfg.scales} needs sides divisible by {2 ** (cfg.scales - 1)}; "
                          f"got {h}x{w} at scale {level}: lower model.scales")
    sq = (4 * c, h // 2, w // 2)
    layers: list[Bijector] = [coupling(shape, "checkerboard", i % 2, cfg) for i in range(3)]
    layers += [Squeeze(), *[coupling(sq, "channel", i % 2, cfg) for i in range(3)]]
    layers.append(FactorOut(sq, scale_block((2 * c, h // 2, w // 2), level + 1, cfg), out_channels=2 * c))
    return Chain(layers)


class RealNVP(FlowModel):
    Config = RealNVPConfig
    tiny = {"channels": 8, "blocks": 0, "scales": 2}

    def build_flow(self, config: RealNVPConfig, shape):
        return scale_block(shape, 0, config)


register_model("realnvp", RealNVP, "RealNVP (Dinh et al. 2017): affine couplings (checkerboard, channel masks), "
               "multi-scale with factor-out, logit preprocessing")
