"""The variational bound of a diffusion model in nats (Ho et al. 2020, eq. 5): the prior term
KL(q(x_T | x_0) || N(0, I)), the KL terms KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) for t > 0, and at t = 0
the discretised Gaussian decoder -log p(x_0 | x_1) of the 8-bit (or binary) values. All three are of the
discrete data, so -VLB bounds the same NLL every other family reports (bits/dim = nats / (D ln 2))."""
from __future__ import annotations

import torch

from .reverse import ReverseStep
from .schedule import NoiseSchedule


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
              ) -> torch.Tensor:
    """KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) elementwise, in nats; broadcasting."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                                        levels: int = 256) -> torch.Tensor:
    """log P(x) elementwise, nats, for x on the grid of ``levels`` values spanning [-1, 1] under N(mean, scale^2)
    integrated over each value's bin (width 2 / (levels - 1)); the end bins reach to -inf and +inf."""
    half = 1.0 / (levels - 1)
    inv = torch.exp(-log_scale)
    upper, lower = (x - mean + half) * inv, (x - mean - half) * inv
    log_cdf_upper = torch.special.log_ndtr(upper)
    log_sf_lower = torch.special.log_ndtr(-lower)
    # log(Phi(u) - Phi(l)) without cancellation: on whichever side of the mean the bin lies, take tails there
    # (log(1 - e^d) as log(-expm1(d)), d kept below -1e-12 so that a bin too narrow to resolve costs 27.6 nats,
    # not infinity)
    def log1mexp(d: torch.Tensor) -> torch.Tensor:
        return torch.log(-torch.expm1(d.clamp(max=-1e-12)))

    mid = torch.where(lower > 0, log_sf_lower + log1mexp(torch.special.log_ndtr(-upper) - log_sf_lower),
                      log_cdf_upper + log1mexp(torch.special.log_ndtr(lower) - log_cdf_upper))
    edge = 1 - half  # the first and last values' bins are open-ended
    return torch.where(x < -edge, log_cdf_upper, torch.where(x > edge, log_sf_lower, mid))


def prior_kl(schedule: NoiseSchedule, x0: torch.Tensor) -> torch.Tensor:
    """KL(q(x_T | x_0) || N(0, I)) summed over each example, (B,) nats: no parameters, near 0 for a good schedule."""
    t = torch.full((len(x0),), schedule.num_steps - 1, dtype=torch.long)
    mean, var = schedule.q_mean_variance(x0, t)
    kl = normal_kl(mean, var.log().expand_as(mean), torch.zeros_like(mean), torch.zeros_like(mean))
    return kl.flatten(1).sum(1)


def vlb_term(schedule: NoiseSchedule, step: ReverseStep, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor,
             levels: int = 256) -> torch.Tensor:
    """L_t of each example, (B,) nats: KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) where t > 0, and the decoder's
    -log p(x_0 | x_1) (x_0 on the grid of ``levels`` values in [-1, 1]) where t = 0."""
    true_mean, _, true_logvar = schedule.q_posterior(x0, xt, t)
    kl = normal_kl(true_mean, true_logvar, step.mean, step.log_variance).flatten(1).sum(1)
    nll = -discretized_gaussian_log_likelihood(x0, step.mean, 0.5 * step.log_variance.expand_as(x0),
                                               levels).flatten(1).sum(1)
    return torch.where(t == 0, nll, kl)

