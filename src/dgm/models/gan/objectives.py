"""Adversarial objectives, each a pair of losses computed from raw discriminator outputs (logits).

Convention: the discriminator minimises ``d_loss(real, fake)`` and the generator minimises ``g_loss(fake)``;
``real``/``fake`` are D's outputs (B,) on real and generated samples. The probabilistic objectives are written
with softplus (log(1 + e^t)), so they are finite for logits of any size (e.g. +-1e4):
``-log sigmoid(t) = softplus(-t)`` and ``-log(1 - sigmoid(t)) = softplus(t)``.

``real_target`` < 1 is one-sided label smoothing (Salimans et al. 2016) for the objectives that have labels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ...registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    """d_loss(real, fake, real_target) -> scalar; g_loss(fake) -> scalar; ``labelled``: has a real target."""

    d_loss: Callable[[Tensor, Tensor, float], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    labelled: bool = True


objectives: Registry[Objective] = Registry("GAN objective")


def _bce_real(real: Tensor, target: float) -> Tensor:
    """Cross-entropy of logits ``real`` against the target probability ``target`` (1 = real), per sample."""
    if target == 1.0:
        return F.softplus(-real)
    return target * F.softplus(-real) + (1 - target) * F.softplus(real)


def _saturating_d(real: Tensor, fake: Tensor, real_target: float = 1.0) -> Tensor:
    """-E log D(x) - E log(1 - D(G(z))) with D = sigmoid(logits)."""
    return _bce_real(real, real_target).mean() + F.softplus(fake).mean()


objectives.register("minimax", help="Goodfellow et al. 2014: G minimises E log(1 - D(G(z)))")(Objective(
    d_loss=_saturating_d,
    g_loss=lambda fake: -F.softplus(fake).mean(),  # log(1 - sigmoid(t)) = -softplus(t)
))

objectives.register("non-saturating", help="Goodfellow et al. 2014 (practice): G minimises -E log D(G(z))")(Objective(
    d_loss=_saturating_d,
    g_loss=lambda fake: F.softplus(-fake).mean(),
))

objectives.register("least-squares", help="Mao et al. 2017 (a=0, b=1, c=1): 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2")(
    Objective(
        d_loss=lambda real, fake, real_target=1.0: 0.5 * (real - real_target).pow(2).mean() + 0.5 * fake.pow(2).mean(),
        g_loss=lambda fake: 0.5 * (fake - 1).pow(2).mean(),
    ))

objectives.register("wasserstein", help="Arjovsky et al. 2017: critic minimises E D(G(z)) - E D(x)")(Objective(
    d_loss=lambda real, fake, real_target=1.0: fake.mean() - real.mean(),
    g_loss=lambda fake: -fake.mean(),
    labelled=False,
))

objectives.register("hinge", help="Lim & Ye 2017 / Miyato et al. 2018: E relu(1 - D(x)) + E relu(1 + D(G(z)))")(
    Objective(
        d_loss=lambda real, fake, real_target=1.0: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
        g_loss=lambda fake: -fake.mean(),
        labelled=False,
    ))


def get_objective(name: str) -> Objective:
    return objectives.get(name)
