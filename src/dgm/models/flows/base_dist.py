"""Base distributions of flows over the latent z (B, *shape): log-density summed per example, and sampling
from an explicit generator with a temperature (the standard deviation / scale multiplier)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...registry import Registry
from .bijector import batch_sum


class StandardNormal:
    """N(0, I) (RealNVP, Glow)."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return batch_sum(-0.5 * (z.pow(2) + math.log(2 * math.pi)))

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None, temperature: float = 1.0):
        return torch.randn(shape, generator=generator) * temperature


class StandardLogistic:
    """The standard logistic, density e^-z / (1 + e^-z)^2 per dimension (NICE)."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return batch_sum(-F.softplus(z) - F.softplus(-z))

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None, temperature: float = 1.0):
        u = torch.rand(shape, generator=generator).clamp(1e-7, 1 - 1e-7)
        return (torch.log(u) - torch.log1p(-u)) * temperature


base_distributions: Registry[type] = Registry("base distribution")
base_distributions.register("normal", help="standard normal")(StandardNormal)
base_distributions.register("logistic", help="standard logistic (NICE)")(StandardLogistic)
