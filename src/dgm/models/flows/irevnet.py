"""An i-RevNet flow: the fully invertible i-RevNet feature extractor (Jacobsen et al. 2018; RevNet blocks of Gomez
et al. 2017, squeezes between stages) as a volume-preserving flow, then NICE's diagonal scaling layer, trained by
exact (dequantised) likelihood without storing activations (``memory_saving``)."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import positive
from ...errors import ConfigError
from ..registry import register_model
from .bijector import Chain
from .model import FlowConfig, FlowModel
from .normalization import Scaling
from .reversible import i_revnet


@dataclass(frozen=True)
class IRevNetFlowConfig(FlowConfig):
    """RevBlocks per stage (each stage starts with a 2x2 squeeze), hidden channels of each F and G, and whether
    training rebuilds activations (memory flat in depth) or stores them (ordinary autograd)."""

    stages: tuple[int, ...] = (4, 4)
    hidden: int = 64
    memory_saving: bool = True

    def __post_init__(self):
        super().__post_init__()
        if not self.stages:
            raise ConfigError("model.stages: give at least one stage, e.g. [4, 4]")
        for n in self.stages:
            positive("RevBlocks per stage", n)
        positive("hidden", self.hidden)


class IRevNetFlow(FlowModel):
    Config = IRevNetFlowConfig
    tiny = {"stages": (1,), "hidden": 8}

    def build_flow(self, config: IRevNetFlowConfig, shape):
        c, h, w = shape
        scale = 2 ** len(config.stages)
        if h % scale or w % scale:
            raise ConfigError(f"irevnet: image sides {h}x{w} must be divisible by {scale} for {len(config.stages)} "
                              "squeezing stages; change model.stages")
        net = i_revnet(c, config.stages, config.hidden, config.memory_saving)
        return Chain([net, Scaling(net.output_shape(shape))])


register_model("irevnet", IRevNetFlow, "i-RevNet flow (Jacobsen et al. 2018): RevNet blocks and squeezes, diagonal "
               "scaling; trained without storing activations", train={"lr": 1e-3, "batch_size": 64})
