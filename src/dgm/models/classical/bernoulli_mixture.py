"""Mixture of Bernoullis by EM: the classical baseline for binary images (binarized MNIST), each component a
product of independent per-pixel Bernoullis."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...config import positive
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ..registry import register_model
from .mixture import MixtureByEM

# log of a probability that EM without smoothing set to exactly 0: finite, so that 0 * log 0 in the products
# below is 0 (a pixel that is always off stays free) while one occurrence costs 1e30 nats, as good as -inf
LOG_ZERO = -1e30


@dataclass(frozen=True)
class BernoulliMixtureConfig:
    """K components; ``smoothing`` a: a Beta(1 + a, 1 + a) prior on every pixel probability (MAP-EM), so no
    probability reaches 0 or 1 and a pixel never on in the training data costs finitely on the test data
    (0: maximum likelihood)."""

    components: int = 10
    smoothing: float = 1e-3

    def __post_init__(self):
        positive("components", self.components)
        positive("smoothing", self.smoothing, allow_zero=True)


class BernoulliMixture(MixtureByEM):
    """p(x) = sum_k pi_k prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d) over binary images x; ``probs`` is (K, D)."""

    Config = BernoulliMixtureConfig
    input_transform = "binary"
    # one EM iteration on the whole binarized-MNIST training set (50,000 images) per step
    default_train = {"batch_size": 50_000, "steps": 100, "log_every": 5}
    tiny = {"components": 3}

    def __init__(self, config: BernoulliMixtureConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.kind == "points" or len(info.shape) != 3:
            raise ConfigError(f"bernoulli-mixture models binary images (C, H, W); {info.name} has shape "
                              f"{tuple(info.shape)}: use gmm for real-valued points")
        self.shape = tuple(info.shape)
        self.register_buffer("probs", 0.25 + 0.5 * torch.rand(config.components, math.prod(self.shape),
                                                              dtype=torch.float64))

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        on, off = self.probs.log().clamp_min(LOG_ZERO), torch.log1p(-self.probs).clamp_min(LOG_ZERO)
        if self.config.smoothing > 0:  # no probability is 0 or 1: x.(on - off) + sum(off), one product, no (1 - x)
            return x @ (on - off).T + off.sum(1)
        return x @ on.T + (1 - x) @ off.T  # LOG_ZERO terms would cancel in the difference

    def maximize(self, x: torch.Tensor, resp: torch.Tensor, nk: torch.Tensor) -> None:
        a = self.config.smoothing
        self.probs.copy_(((resp.T @ x + a) / (nk[:, None] + 2 * a)).clamp(0, 1))

    def draw(self, components: torch.Tensor, generator: torch.Generator | None, mean: bool = False
             ) -> torch.Tensor:
        probs = self.probs[components.to(self.probs.device)].float()
        if not mean:
            u = torch.rand(probs.shape, generator=generator).to(probs.device)
            probs = (u < probs).float()
        return probs.reshape(len(components), *self.shape)

    @torch.no_grad()
    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               mean: bool = False) -> torch.Tensor:
        """n images (n, C, H, W): a component from the weights, then its pixels drawn ({0, 1}), or its pixel
        probabilities (``mean``, in [0, 1]); labels are ignored (the mixture is unconditional)."""
        return self.draw(self.components(n, generator), generator, mean=mean)

    def sample_semantics(self, options):
        return "component means" if options.get("mean", False) else "draws"


register_model("bernoulli-mixture", BernoulliMixture, "mixture of Bernoullis by EM (k-means++ start): the "
               "classical baseline for binary images")
