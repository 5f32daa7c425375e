"""Constraints and gradient penalties on the discriminator (critic).

- weight clipping (Arjovsky et al. 2017, WGAN): every D weight clamped to [-c, c];
- gradient penalty (Gulrajani et al. 2017, WGAN-GP): E (||grad D(x_hat)|| - 1)^2 at x_hat = a x + (1 - a) x~,
  a ~ U(0, 1) drawn per sample (two-sided);
- R1 / R2 (Mescheder et al. 2018): E ||grad D(x)||^2 on real (R1) or generated (R2) samples, zero-centred;
  the model weights them by gamma / 2 and may apply them lazily every k steps (scaled by k, Karras et al. 2020).

``critic`` arguments are callables x -> logits (B,) (close over labels for conditional discriminators).
The registered parts (config section ``penalties``) are at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

from ...config import positive
from .parts import Part, Step, Term, penalties

Critic = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def clip_weights(params: Iterable[nn.Parameter], c: float) -> None:
    """Clamp every parameter to [-c, c] in place (WGAN's Lipschitz constraint)."""
    for p in params:
        p.clamp_(-c, c)


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random points on the segments between paired samples: (x_hat, alpha), alpha (B,) ~ U(0, 1) per sample.

    real, fake: (B, ...) -> x_hat (B, ...) = alpha * real + (1 - alpha) * fake."""
    alpha = torch.rand(real.shape[0], generator=generator, dtype=real.dtype, device=real.device)
    a = alpha.view(-1, *([1] * (real.dim() - 1)))
    return a * real + (1 - a) * fake, alpha


def input_gradient_norms(critic: Critic, x: torch.Tensor) -> torch.Tensor:
    """||d critic(x)_i / d x_i|| per sample, (B,), differentiable (create_graph) so it can be penalised."""
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).norm(dim=1)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP: E (||grad critic(x_hat)|| - 1)^2 over per-sample interpolates x_hat; a scalar."""
    x_hat, _ = interpolate(real.detach(), fake.detach(), generator)
    return (input_gradient_norms(critic, x_hat) - 1).pow(2).mean()


def zero_centred_penalty(critic: Critic, x: torch.Tensor) -> torch.Tensor:
    """R1 (x real) / R2 (x generated): E ||grad critic(x)||^2; a scalar (the model multiplies by gamma / 2)."""
    return input_gradient_norms(critic, x.detach()).pow(2).mean()


@penalties.register("gp", help="WGAN-GP (Gulrajani et al. 2017): weight * E (||grad D(x_hat)|| - 1)^2 (10 in the paper)")
class GradientPenaltyTerm(Term):
    def value(self, player: str, ctx: Step) -> torch.Tensor:
        return gradient_penalty(ctx.critic(ctx.labels), ctx.batch.x, ctx.fake)


@penalties.register("r1", help="R1 (Mescheder et al. 2018): weight (gamma) / 2 * E ||grad D(x)||^2 on real data")
class R1Term(Term):
    def value(self, player: str, ctx: Step) -> torch.Tensor:
        return 0.5 * zero_centred_penalty(ctx.critic(ctx.labels), ctx.batch.x)


@penalties.register("r2", help="R2 (Mescheder et al. 2018): weight (gamma) / 2 * E ||grad D(G(z))||^2 on generated data")
class R2Term(Term):
    def value(self, player: str, ctx: Step) -> torch.Tensor:
        return 0.5 * zero_centred_penalty(ctx.critic(ctx.lat.labels), ctx.fake)


@penalties.register("drift", help="ProGAN's drift term (Karras et al. 2018): weight (epsilon, 0.001) * E D(x)^2 on real "
                    "data, keeping a Wasserstein critic's outputs near 0")
class DriftTerm(Term):
    def value(self, player: str, ctx: Step) -> torch.Tensor:
        return ctx.real_out.logits.pow(2).mean()


@dataclass(frozen=True)
class ClipSettings:
    """bound c of WGAN's weight clipping (None: off)."""

    bound: float | None = None

    def __post_init__(self):
        positive("bound", self.bound)

    @property
    def active(self) -> bool:
        return self.bound is not None


@penalties.register("clip", help="WGAN (Arjovsky et al. 2017): every D weight clamped to [-bound, bound] after its "
                    "updates (0.01 in the paper)")
class WeightClip(Part):
    """A constraint rather than a loss term: applied right after D's optimizer step (Algorithm 1), so G's step
    sees the clipped critic, and before D's loss (``apply``), which covers the initial and any loaded weights."""

    Settings = ClipSettings

    def apply(self) -> None:
        clip_weights(self.model.critic.parameters(), self.settings.bound)

    def after_step(self, group: str) -> None:
        if group == "discriminator":
            self.apply()
