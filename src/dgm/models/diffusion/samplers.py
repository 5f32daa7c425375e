"""Samplers of a diffusion model: ancestral DDPM (Ho et al. 2020), DDIM with eta (Song et al. 2021) and
DPM-Solver++(2M) (Lu et al. 2022). None owns weights: each takes ``predict(x_t, t) -> network output`` (t the
network's time input, (B,) long, from ``schedule.timesteps``) and a schedule, respaced for fewer steps; ``on_step``
sees x_t before each step (a trajectory). Noise is
drawn on the CPU from the caller's generator and then moved, so a seed gives the same images on every device.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from ...errors import ConfigError
from .parameterization import to_x0_eps
from .reverse import reverse_step
from .schedule import NoiseSchedule

Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Progress = Callable[[Iterable[int]], Iterable[int]]
OnStep = Callable[[int, torch.Tensor], None]  # (step index i, x_t at that step before it is taken): trajectories
SAMPLERS = ("ddpm", "ddim", "dpm-solver++")


def _noise(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor | None = None,
           device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    z = torch.randn(shape, generator=generator)
    return z.to(like.device, like.dtype) if like is not None else z.to(device, dtype)


def _steps(n: int, progress: Progress | None) -> Iterable[int]:
    order = range(n - 1, -1, -1)
    return progress(order) if progress is not None else order


def _time(schedule: NoiseSchedule, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index tensor, network time tensor), both (B,) long, for step i of ``schedule``."""
    idx = torch.full((len(x),), i, dtype=torch.long)
    return idx, schedule.timesteps[idx].to(x.device)


def ddpm_step(schedule: NoiseSchedule, out: torch.Tensor, x: torch.Tensor, i: int, prediction: str, variance: str,
              clip_x0: bool, z: torch.Tensor) -> torch.Tensor:
    """x_{t-1} = mean + std z of p(x_{t-1} | x_t) at step i (no noise at i = 0); x, z (B, ...)."""
    idx = torch.full((len(x),), i, dtype=torch.long)
    step = reverse_step(schedule, out, x, idx, prediction, variance, clip_x0)
    return step.mean if i == 0 else step.mean + (0.5 * step.log_variance).exp() * z


def ddpm_sample(predict: Predict, schedule: NoiseSchedule, shape: tuple[int, ...], *, prediction: str = "epsilon",
                variance: str = "fixed-small", clip_x0: bool = True, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                progress: Progress | None = None, x_T: torch.Tensor | None = None, on_step: OnStep | None = None
                ) -> torch.Tensor:
    """Ancestral sampling through every step of ``schedule`` (respaced: improved DDPM's fewer-step sampling);
    returns x_0 (B, ...) in about [-1, 1]."""
    x = _noise(shape, generator, device=device, dtype=dtype) if x_T is None else x_T
    for i in _steps(schedule.num_steps, progress):
        _, t = _time(schedule, i, x)
        if on_step is not None:
            on_step(i, x)
        z = _noise(x.shape, generator, like=x) if i > 0 else torch.zeros_like(x)
        x = ddpm_step(schedule, predict(x, t), x, i, prediction, variance, clip_x0, z)
    return x


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, ac: torch.Tensor, ac_prev: torch.Tensor, eta: float,
              z: torch.Tensor) -> torch.Tensor:
    """Song et al.'s eq. (12): x_prev = sqrt(ac_prev) x0 + sqrt(1 - ac_prev - sigma^2) eps + sigma z with
    sigma = eta sqrt((1 - ac_prev) / (1 - ac)) sqrt(1 - ac / ac_prev); ac, ac_prev broadcastable alpha-bars."""
    sigma = eta * ((1 - ac_prev) / (1 - ac) * (1 - ac / ac_prev)).clamp(min=0).sqrt()
    return ac_prev.sqrt() * x0 + (1 - ac_prev - sigma ** 2).clamp(min=0).sqrt() * eps + sigma * z


def ddim_sample(predict: Predict, schedule: NoiseSchedule, shape: tuple[int, ...], *, prediction: str = "epsilon",
                eta: float = 0.0, clip_x0: bool = True, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                progress: Progress | None = None, x_T: torch.Tensor | None = None, on_step: OnStep | None = None
                ) -> torch.Tensor:
    """DDIM through the steps of ``schedule`` (respace it to S steps); eta = 0 is deterministic given x_T, eta = 1
    with every step is ancestral DDPM with beta-tilde variances. Returns x_0 (B, ...)."""
    if eta < 0:
        raise ConfigError(f"DDIM's eta must be >= 0, got {eta}")
    x = _noise(shape, generator, device=device, dtype=dtype) if x_T is None else x_T
    for i in _steps(schedule.num_steps, progress):
        idx, t = _time(schedule, i, x)
        if on_step is not None:
            on_step(i, x)
        a = schedule.gather(schedule.sqrt_alphas_cumprod, idx, x)
        s = schedule.gather(schedule.sqrt_one_minus_alphas_cumprod, idx, x)
        x0, eps = to_x0_eps(prediction, predict(x, t), x, a, s)
        if clip_x0:
            x0 = x0.clamp(-1, 1)
            eps = (x - a * x0) / s
        z = _noise(x.shape, generator, like=x) if eta > 0 and i > 0 else torch.zeros_like(x)
        x = ddim_step(x0, eps, schedule.gather(schedule.alphas_cumprod, idx, x),
                      schedule.gather(schedule.alphas_cumprod_prev, idx, x), eta, z)
    return x


def dpm_solver_2m_sample(predict: Predict, schedule: NoiseSchedule, shape: tuple[int, ...], *,
                         prediction: str = "epsilon", clip_x0: bool = True, generator: torch.Generator | None = None,
                         device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                         progress: Progress | None = None, x_T: torch.Tensor | None = None,
                         on_step: OnStep | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, algorithm 2) in its discrete-time form: multistep second order in the
    data prediction over lambda = log(alpha / sigma), first order at the first step; the last step (to the
    smallest kept t) returns its x0 prediction. Returns x_0 (B, ...)."""
    x = _noise(shape, generator, device=device, dtype=dtype) if x_T is None else x_T
    alpha, sigma = schedule.sqrt_alphas_cumprod, schedule.sqrt_one_minus_alphas_cumprod
    lam = alpha.log() - sigma.log()
    prev_x0, prev_h = None, None
    for i in _steps(schedule.num_steps, progress):
        idx, t = _time(schedule, i, x)
        if on_step is not None:
            on_step(i, x)
        a, s = schedule.gather(alpha, idx, x), schedule.gather(sigma, idx, x)
        x0, _ = to_x0_eps(prediction, predict(x, t), x, a, s)
        if clip_x0:
            x0 = x0.clamp(-1, 1)
        if i == 0:
            return x0
        h = float(lam[i - 1] - lam[i])
        # D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i+1} with r = h_prev / h (first order at the first step)
        d = x0 if prev_x0 is None else (1 + h / (2 * prev_h)) * x0 - h / (2 * prev_h) * prev_x0
        decay = float(alpha[i - 1] * torch.expm1(torch.tensor(-h, dtype=torch.float64)))  # alpha (e^-h - 1)
        x = float(sigma[i - 1] / sigma[i]) * x - decay * d
        prev_x0, prev_h = x0, h
    return x
