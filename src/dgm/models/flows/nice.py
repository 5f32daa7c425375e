"""NICE (Dinh et al. 2015): additive couplings with MLP networks on alternating halves of the flattened
image, a diagonal scaling layer, and a logistic base distribution."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import positive
from ..registry import register_model
from .bijector import Chain
from .coupling import Coupling, MLPNet
from .model import FlowConfig, FlowModel
from .normalization import Scaling


@dataclass(frozen=True)
class NICEConfig(FlowConfig):
    preprocess: Literal["logit", "center", "none"] = "none"
    base: Literal["normal", "logistic"] = "logistic"
    couplings: int = 4
    hidden: int = 1000  # units per hidden layer of each coupling MLP
    layers: int = 5  # hidden layers per coupling MLP

    def __post_init__(self):
        super().__post_init__()
        for name in ("couplings", "hidden", "layers"):
            positive(name, getattr(self, name))


class NICE(FlowModel):
    Config = NICEConfig
    tiny = {"couplings": 2, "hidden": 16, "layers": 1}

    def build_flow(self, config: NICEConfig, shape):
        hidden = (config.hidden,) * config.layers
        layers = [Coupling(shape, "alternate", i % 2, MLPNet(shape, hidden, 1), "none")
                  for i in range(config.couplings)]
        return Chain([*layers, Scaling(shape)])


register_model("nice", NICE, "NICE (Dinh et al. 2015): additive MLP couplings, diagonal scaling, logistic prior",
               train={"lr": 1e-3, "batch_size": 64})
