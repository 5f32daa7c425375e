"""What every normalizing-flow model shares: preprocessing, the flow, the base distribution, the likelihood
convention of dequantised 8-bit data, and sampling with a temperature."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ...config import positive
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ..base import Batch, GenerativeModel
from .base_dist import base_distributions
from .bijector import Bijector
from .preprocess import preprocessing

DEQUANTIZATION = ("uniform dequantisation x = (k + u) / 256, u ~ U[0, 1)^D drawn once per image from the "
                  "seeded generator: log P(k) >= log p(x) - D ln 256 (a one-sample stochastic lower bound on "
                  "the 8-bit log-likelihood, in nats); the preprocessing Jacobian is included")


@dataclass(frozen=True)
class FlowConfig:
    """Fields every flow has: how pixels are preprocessed and the base distribution of the latent."""

    preprocess: Literal["logit", "center", "none"] = "logit"
    alpha: float = 0.05  # logit preprocessing: logit(alpha + (1 - 2 alpha) x)
    base: Literal["normal", "logistic"] = "normal"

    def __post_init__(self):
        positive("alpha", self.alpha, allow_zero=True)
        if self.alpha >= 0.5:
            raise ConfigError(f"alpha must be < 0.5, got {self.alpha}")


class FlowModel(GenerativeModel):
    """x in [0, 1) (dequantised) -> preprocess -> flow -> z, with log p(x) = log p_base(z) + sum of the
    log-determinants. ``log_prob`` is of the 8-bit data in nats (see ``likelihood_note``). Subclasses build
    the flow (``build_flow``) for the data shape."""

    input_transform = "dequantized"
    likelihood_note = DEQUANTIZATION
    log_prob_kind = "bound"  # of the 8-bit data: one dequantisation draw per image (Jensen's inequality)
    default_train = {"lr": 1e-3, "batch_size": 64, "steps": 20_000, "grad_clip": 100.0}

    def __init__(self, config: FlowConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.kind == "points" or len(info.shape) != 3:
            raise ConfigError(f"{type(self).__name__} models images (C, H, W); {info.name} has shape {info.shape}")
        self.shape = tuple(info.shape)
        self.dims = math.prod(self.shape)
        self.preprocess: Bijector = preprocessing.get(config.preprocess)(config.alpha)
        self.flow: Bijector = self.build_flow(config, self.shape)
        self.base = base_distributions.get(config.base)()
        self.latent_shape = self.flow.output_shape(self.shape)

    def build_flow(self, config, shape: tuple[int, int, int]) -> Bijector:
        raise NotImplementedError

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) in [0, 1) -> (z (B, *latent_shape), log|det dz/dx| (B,))."""
        y, ladj_pre = self.preprocess(x)
        z, ladj = self.flow(y)
        return z, ladj_pre + ladj

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Lower bound on log P(k) of the 8-bit images in nats, (B,); x = (k + u) / 256 from ``prepare``."""
        z, ladj = self.transform(x)
        return self.base.log_prob(z) + ladj - self.dims * math.log(256.0)

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        return {"loss": -self.log_prob(batch.x).mean()}

    @torch.no_grad()
    def sample(self, n: int, *, labels=None, generator: torch.Generator | None = None, temperature: float = 1.0
               ) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1] from z ~ base scaled by ``temperature`` (e.g. 0.7)."""
        z = self.base.sample((n, *self.latent_shape), generator, temperature).to(self.device)
        x = self.preprocess.inverse(self.flow.inverse(z))
        return x.clamp(0, 1)
