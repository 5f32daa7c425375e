"""Decoder likelihood heads shared by VAEs, autoencoders and (later) autoregressive models.

A head turns raw network outputs into a torch distribution over one sample (the loss asks it for
``log_prob``; no string switches on loss names), names the input transform its data needs, and gives
the correction that turns a continuous density into a bound on the 8-bit discrete likelihood.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from ..registry import Registry


class LikelihoodHead:
    """params: (..., params_per_dim * C, H, W) -> a distribution with event shape (C, H, W)."""

    params_per_dim = 1
    input_transform = "unit"

    def __init__(self, event_dims: int, **options):
        self.event_dims = event_dims

    def distribution(self, params: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The expected sample, clamped to [0, 1] (images) — what sample grids show."""
        raise NotImplementedError

    def discrete_correction(self, dims: int) -> float:
        """Nats to add to log p(x) so that it lower-bounds (or equals) log P of the discrete data."""
        return 0.0


heads: Registry[type[LikelihoodHead]] = Registry("likelihood")


@heads.register("bernoulli", help="binary pixels; data dynamically binarised")
class BernoulliHead(LikelihoodHead):
    input_transform = "binary"

    def distribution(self, params):
        return Independent(Bernoulli(logits=params, validate_args=False), self.event_dims, validate_args=False)

    def mean(self, params):
        return torch.sigmoid(params)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Fast path: log p(x) summed over event dims, straight from logits."""
        ll = -F.binary_cross_entropy_with_logits(params, x.expand_as(params), reduction="none")
        return ll.flatten(-self.event_dims).sum(-1)


class _GaussianBase(LikelihoodHead):
    # Uniformly dequantised 8-bit data x = (k + u) / 256 has log P(k) >= E_u log p(x) - D log 256.
    input_transform = "dequantized"

    def discrete_correction(self, dims):
        return -dims * math.log(256.0)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).log_prob(x)


@heads.register("gaussian", help="Gaussian with fixed std (gaussian_std); data dequantised to [0, 1)")
class GaussianFixedHead(_GaussianBase):
    def __init__(self, event_dims: int, gaussian_std: float = 0.1, **options):
        super().__init__(event_dims)
        self.std = gaussian_std

    def distribution(self, params):
        return Independent(Normal(params, self.std, validate_args=False), self.event_dims, validate_args=False)

    def mean(self, params):
        return params.clamp(0, 1)


@heads.register("gaussian_learned", help="Gaussian with a learned per-pixel std; data dequantised to [0, 1)")
class GaussianLearnedHead(_GaussianBase):
    params_per_dim = 2
    min_std = 1e-3  # keeps the density bounded on dequantised data

    def _split(self, params):
        axis = -self.event_dims
        loc, raw = params.chunk(2, dim=axis)
        return loc, F.softplus(raw) + self.min_std

    def distribution(self, params):
        loc, scale = self._split(params)
        return Independent(Normal(loc, scale, validate_args=False), self.event_dims, validate_args=False)

    def mean(self, params):
        return self._split(params)[0].clamp(0, 1)


@heads.register("gaussian_points", help="Gaussian with a learned std for 2-D points")
class GaussianPointsHead(GaussianLearnedHead):
    input_transform = "unit"

    def discrete_correction(self, dims):
        return 0.0

    def mean(self, params):
        return self._split(params)[0]


def make_head(name: str, event_dims: int, **options) -> LikelihoodHead:
    return heads.get(name)(event_dims, **options)
