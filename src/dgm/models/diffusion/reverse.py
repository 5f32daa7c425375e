"""The reverse step p(x_{t-1} | x_t) a network's output defines: its mean through the posterior
q(x_{t-1} | x_t, x0-hat), and its variance fixed (beta-tilde_t or beta_t, Ho et al. 2020) or learned as an
interpolation between their logs (Nichol & Dhariwal 2021, eq. 15)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import ConfigError
from .parameterization import to_x0_eps
from .schedule import NoiseSchedule

VARIANCES = ("fixed-small", "fixed-large", "learned-range")


def check_variance(kind: str) -> str:
    """``kind`` when it is one of VARIANCES, else a ConfigError naming them."""
    if kind not in VARIANCES:
        raise ConfigError(f"unknown reverse variance {kind!r}: choose one of {', '.join(VARIANCES)}")
    return kind


def output_channels(channels: int, variance: str) -> int:
    """Channels a network outputs for images of ``channels``: twice as many when it also learns the variance."""
    return 2 * channels if check_variance(variance) == "learned-range" else channels


@dataclass
class ReverseStep:
    """p(x_{t-1} | x_t): mean (B, ...), variance and log-variance (broadcastable to it), and the x0 and noise
    estimates (B, ...) they came from."""

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor
    x0: torch.Tensor
    eps: torch.Tensor


def log_variance(schedule: NoiseSchedule, t: torch.Tensor, like: torch.Tensor, variance: str,
                 v: torch.Tensor | None = None) -> torch.Tensor:
    """log Var p(x_{t-1} | x_t): beta-tilde_t (fixed-small, clipped at t = 0), beta_t (fixed-large, beta-tilde_1
    at t = 0 as Ho et al.'s decoder) or exp(f log beta_t + (1 - f) log beta-tilde_t) with f = (v + 1) / 2 for a
    network output v (B, ...) in about [-1, 1] (learned-range)."""
    small = schedule.gather(schedule.posterior_log_variance_clipped, t, like)
    if variance == "fixed-small":
        return small
    large_values = torch.log(torch.cat([schedule.posterior_variance[1:2], schedule.betas[1:]])) \
        if schedule.num_steps > 1 else torch.log(schedule.betas)
    if variance == "fixed-large":
        return schedule.gather(large_values, t, like)
    if variance == "learned-range":
        if v is None:
            raise ValueError("learned-range variance needs the network's variance output")
        frac = (v + 1) / 2
        return frac * schedule.gather(torch.log(schedule.betas), t, like) + (1 - frac) * small
    raise AssertionError(check_variance(variance))


def reverse_step(schedule: NoiseSchedule, out: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, prediction: str,
                 variance: str = "fixed-small", clip_x0: bool = False) -> ReverseStep:
    """p(x_{t-1} | x_t) from a network output ``out`` (B, C or 2C, ...) at x_t (B, C, ...), indices t (B,).
    ``clip_x0`` clamps x0-hat to the data range [-1, 1] (and re-derives the noise from it) before the mean."""
    v = None
    if check_variance(variance) == "learned-range":
        out, v = out.chunk(2, dim=1)
    a = schedule.gather(schedule.sqrt_alphas_cumprod, t, xt)
    s = schedule.gather(schedule.sqrt_one_minus_alphas_cumprod, t, xt)
    x0, eps = to_x0_eps(prediction, out, xt, a, s)
    if clip_x0:
        x0 = x0.clamp(-1, 1)
        eps = (xt - a * x0) / s
    mean, _, _ = schedule.q_posterior(x0, xt, t)
    logvar = log_variance(schedule, t, xt, variance, v)
    return ReverseStep(mean, logvar.exp(), logvar, x0, eps)
