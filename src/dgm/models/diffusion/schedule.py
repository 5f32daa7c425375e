"""Parameter-free noise schedules of diffusion models: the forward process q(x_t | x_0) and its posterior
q(x_{t-1} | x_t, x_0), precomputed in float64 from the betas, and respacing to fewer steps for sampling.

Index t = 0 .. T-1 is the t = 1 .. T of Ho et al. (2020): ``alphas_cumprod[t]`` is alpha-bar of their t + 1.
A schedule holds no weights (the network owns them, as diffusers' schedulers do); its tensors are gathered into
the dtype and device of the data at each use, so it is rebuilt from the config rather than checkpointed.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ...errors import ConfigError


def linear_betas(steps: int, start: float = 1e-4, end: float = 0.02) -> torch.Tensor:
    """Ho et al.'s linear betas, (T,) float64: ``start``..``end`` for T = 1000, scaled by 1000 / T otherwise so
    that any T adds about the same total noise (Nichol & Dhariwal 2021)."""
    scale = 1000 / steps
    return torch.linspace(scale * start, scale * end, steps, dtype=torch.float64).clamp(max=0.999)


def cosine_betas(steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule, (T,) float64: alpha-bar(t) = cos^2(pi/2 (t/T + s) / (1 + s)) up to
    normalisation, betas = 1 - alpha-bar(t+1) / alpha-bar(t) clipped at ``max_beta`` (no singularity at t = T)."""
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


BETAS: dict[str, Callable[[int], torch.Tensor]] = {"linear": linear_betas, "cosine": cosine_betas}


def spaced_timesteps(steps: int, count: int) -> list[int]:
    """``count`` of the ``steps`` timesteps, evenly spread from 0 to T-1 (both kept, rounded; improved DDPM's
    respacing with one section), ascending."""
    if not 1 <= count <= steps:
        raise ConfigError(f"cannot respace {steps} diffusion steps to {count}: choose 1..{steps} sampling steps")
    if count == 1:
        return [steps - 1]
    return sorted({round(i * (steps - 1) / (count - 1)) for i in range(count)})


class NoiseSchedule:
    """The forward process of one beta schedule, (T,) float64 tensors; ``timesteps[i]`` is the step of the
    original schedule that index i stands for (the network's time input), ``arange(T)`` unless respaced."""

    def __init__(self, betas: torch.Tensor, timesteps: torch.Tensor | None = None):
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.dim() != 1 or len(betas) == 0 or not bool(((betas > 0) & (betas <= 1)).all()):
            raise ConfigError("diffusion betas must be a non-empty 1-D sequence in (0, 1]")
        self.betas = betas
        self.num_steps = len(betas)
        self.timesteps = torch.arange(self.num_steps) if timesteps is None else torch.as_tensor(timesteps)
        alphas = 1 - betas
        self.alphas_cumprod = torch.cumprod(alphas, 0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        ac, prev = self.alphas_cumprod, self.alphas_cumprod_prev
        self.sqrt_alphas_cumprod = ac.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1 - ac).sqrt()
        # beta-tilde_t of DDPM eq. (7); zero at t = 0, so its log is clipped to the t = 1 value (as Ho et al.)
        self.posterior_variance = betas * (1 - prev) / (1 - ac)
        pv = self.posterior_variance
        self.posterior_log_variance_clipped = torch.log(torch.cat([pv[1:2], pv[1:]])) if len(pv) > 1 \
            else torch.log(betas)
        self.posterior_mean_coef1 = betas * prev.sqrt() / (1 - ac)
        self.posterior_mean_coef2 = (1 - prev) * alphas.sqrt() / (1 - ac)

    @classmethod
    def named(cls, kind: str, steps: int) -> "NoiseSchedule":
        """The ``kind`` ('linear' or 'cosine') schedule of ``steps`` steps."""
        if kind not in BETAS:
            raise ConfigError(f"unknown noise schedule {kind!r}: choose one of {', '.join(BETAS)}")
        if steps < 1:
            raise ConfigError(f"a diffusion needs at least 1 step, got {steps}")
        return cls(BETAS[kind](steps))

    def respace(self, timesteps: list[int] | torch.Tensor) -> "NoiseSchedule":
        """The schedule that jumps between the kept ``timesteps`` (ascending indices into this one) with the same
        alpha-bar at each: beta'_i = 1 - alpha-bar(k_i) / alpha-bar(k_{i-1}) (improved DDPM, section 4)."""
        keep = torch.as_tensor(timesteps, dtype=torch.long)
        if keep.dim() != 1 or len(keep) == 0 or bool((keep[1:] <= keep[:-1]).any()) or int(keep[0]) < 0 \
                or int(keep[-1]) >= self.num_steps:
            raise ConfigError(f"respacing needs ascending timesteps in 0..{self.num_steps - 1}")
        ac = self.alphas_cumprod[keep]
        prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
        return NoiseSchedule(1 - ac / prev, self.timesteps[keep])

    def spaced(self, count: int) -> "NoiseSchedule":
        """This schedule respaced to ``count`` evenly spread steps (all of them when count = T)."""
        return self if count == self.num_steps else self.respace(spaced_timesteps(self.num_steps, count))

    @staticmethod
    def gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """values[t] as ``like``'s dtype and device, shaped (B, 1, ..., 1) to broadcast against ``like`` (B, ...)."""
        out = values.to(like.device)[t.to(like.device)].to(like.dtype)
        return out.reshape(len(t), *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) noise; x0, noise (B, ...), t (B,) long."""
        return self.gather(self.sqrt_alphas_cumprod, t, x0) * x0 + \
            self.gather(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise

    def q_mean_variance(self, x0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, ...) and variance (B, 1, ..) of q(x_t | x_0)."""
        return self.gather(self.sqrt_alphas_cumprod, t, x0) * x0, self.gather(1 - self.alphas_cumprod, t, x0)

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean (B, ...), variance and clipped log-variance (B, 1, ..) of q(x_{t-1} | x_t, x_0) (DDPM eq. 6-7)."""
        mean = self.gather(self.posterior_mean_coef1, t, xt) * x0 + self.gather(self.posterior_mean_coef2, t, xt) * xt
        return mean, self.gather(self.posterior_variance, t, xt), \
            self.gather(self.posterior_log_variance_clipped, t, xt)
