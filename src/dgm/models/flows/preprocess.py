"""Fixed maps between dequantised pixels in [0, 1) and the space a flow models, with their Jacobians (which
``log_prob`` counts): RealNVP's logit, Glow's centring, or nothing (NICE)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ...registry import Registry
from .bijector import Bijector, batch_sum, bijectors


class Logit(Bijector):
    """y = logit(alpha + (1 - 2 alpha) x) for x in (0, 1) (Dinh et al. 2017, alpha = 0.05); ladj =
    sum(log(1 - 2 alpha) - log p - log(1 - p)) with p = alpha + (1 - 2 alpha) x."""

    domain = "unit"

    def __init__(self, alpha: float = 0.05):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        p = self.alpha + (1 - 2 * self.alpha) * x
        y = torch.log(p) - torch.log1p(-p)
        # log p + log(1 - p) = -softplus(-y) - softplus(y)
        ladj = batch_sum(F.softplus(y) + F.softplus(-y)) + x[0].numel() * math.log(1 - 2 * self.alpha)
        return y, ladj

    def inverse(self, y):
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)


class Affine(Bijector):
    """y = scale * x + shift with constants (Glow: x - 0.5); ladj = D log|scale|."""

    def __init__(self, scale: float = 1.0, shift: float = 0.0):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x):
        ladj = x[0].numel() * math.log(abs(self.scale))
        return x * self.scale + self.shift, x.new_full((x.shape[0],), ladj)

    def inverse(self, y):
        return (y - self.shift) / self.scale


preprocessing: Registry[Callable[[float], Bijector]] = Registry("flow preprocessing")
preprocessing.register("logit", help="logit(alpha + (1 - 2 alpha) x) (RealNVP)")(lambda alpha: Logit(alpha))
preprocessing.register("center", help="x - 0.5 (Glow)")(lambda alpha: Affine(1.0, -0.5))
preprocessing.register("none", help="x as it is (NICE)")(lambda alpha: Affine(1.0, 0.0))


@bijectors.register("logit", help="logit preprocessing")
def _logit_example(shape):
    return Logit(0.05)


@bijectors.register("affine", help="constant affine preprocessing")
def _affine_example(shape):
    return Affine(2.0, -0.5)
