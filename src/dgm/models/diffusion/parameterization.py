"""What a denoising network predicts: the noise epsilon, the clean image x_0, or the velocity
v = sqrt(alpha-bar) epsilon - sqrt(1 - alpha-bar) x_0 (Salimans & Ho 2022). With a = sqrt(alpha-bar_t) and
s = sqrt(1 - alpha-bar_t), x_t = a x_0 + s epsilon and a^2 + s^2 = 1, so each converts into the others exactly.
"""
from __future__ import annotations

import torch

from ...errors import ConfigError

PREDICTIONS = ("epsilon", "x0", "v")


def check_prediction(kind: str) -> str:
    """``kind`` when it is one of PREDICTIONS, else a ConfigError naming them."""
    if kind not in PREDICTIONS:
        raise ConfigError(f"unknown diffusion prediction {kind!r}: choose one of {', '.join(PREDICTIONS)}")
    return kind


def target(kind: str, x0: torch.Tensor, eps: torch.Tensor, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """What a network of this ``kind`` should output for x_t = a x0 + s eps; all broadcastable to (B, ...)."""
    if kind == "epsilon":
        return eps
    if kind == "x0":
        return x0
    if kind == "v":
        return a * eps - s * x0
    raise AssertionError(check_prediction(kind))


def to_x0_eps(kind: str, out: torch.Tensor, xt: torch.Tensor, a: torch.Tensor, s: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) implied by a network output ``out`` of this ``kind`` at x_t; (B, ...) each. From x0 the noise
    divides by s, which is smallest (about 0.01 for linear betas) at t = 0."""
    if kind == "epsilon":
        return (xt - s * out) / a, out
    if kind == "x0":
        return out, (xt - a * out) / s
    if kind == "v":
        return a * xt - s * out, s * xt + a * out
    raise AssertionError(check_prediction(kind))
