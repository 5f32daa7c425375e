"""Classifier guidance (Dhariwal & Nichol 2021): a noise-aware classifier's gradient steers any sampler.

In score form (their algorithm 2), the guided noise prediction is
    eps' = eps - s sqrt(1 - alpha-bar_t) grad_x log p_phi(y | x_t, t),
i.e. the score of p(x_t) p_phi(y | x_t)^s. It is applied to the network's output before the sampler sees it,
so DDIM, DPM-Solver++ and ancestral DDPM all take it (for ancestral sampling their algorithm 1 shifts the mean
by s Sigma grad instead; the two differ by a factor 1 / sqrt(alpha_t), about 1, and the choice of variance).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .parameterization import target, to_x0_eps
from .samplers import Predict
from .schedule import NoiseSchedule

Classifier = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, network time t) -> logits (B, K)


def log_prob_gradient(classifier: Classifier, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor
                      ) -> torch.Tensor:
    """grad_x log p(labels | x, t) of a classifier returning logits; x (B, ...), t and labels (B,) -> (B, ...).
    Each example's log-probability depends on its own x only, so the gradient of the sum is per example."""
    with torch.enable_grad():
        x = x.detach().float().requires_grad_(True)
        log_p = F.log_softmax(classifier(x, t).float(), dim=1).gather(1, labels[:, None]).sum()
        return torch.autograd.grad(log_p, x)[0]


def classifier_guided(predict: Predict, classifier: Classifier, labels: torch.Tensor, scale: float,
                      schedule: NoiseSchedule, prediction: str, channels: int) -> Predict:
    """``predict(x_t, t)`` with its first ``channels`` output channels (epsilon, x0 or v) moved to
    eps' = eps - scale sqrt(1 - alpha-bar_t) grad log p(labels | x_t, t) (and the x0 and v that eps' implies
    at the same x_t); further channels (learned variances) pass through. ``schedule`` is the training one: t is
    the network's time, an index into it."""

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = predict(x, t)
        mean = out[:, :channels].float()
        a = schedule.gather(schedule.sqrt_alphas_cumprod, t, mean)
        s = schedule.gather(schedule.sqrt_one_minus_alphas_cumprod, t, mean)
        _, eps = to_x0_eps(prediction, mean, x.float(), a, s)
        eps = eps - scale * s * log_prob_gradient(classifier, x, t, labels)
        mean = target(prediction, (x.float() - s * eps) / a, eps, a, s)
        return torch.cat([mean.to(out.dtype), out[:, channels:]], 1)
    return guided
