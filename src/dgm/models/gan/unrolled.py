"""The unrolled generator loss of Metz et al. (2017): G is scored against D after k further D updates.

theta_D^0 = theta_D, theta_D^{i+1} = U(theta_D^i, grad f_D(theta_G, theta_D^i)), and G minimises its objective
against D(.; theta_D^k). U is either plain gradient descent with step ``unroll_lr`` (the surrogate of the
paper's equations) or, with ``unroll_optimizer="adam"``, Adam continued from D's own optimizer state (its
moments, step count, learning rate and betas), which is what the paper's experiments unroll. With
``second_order`` the gradient flows through the unrolled updates (the term that lets G anticipate D's
response); without it the lookahead D is a constant. The unrolling runs on a functional copy of D
(``torch.func.functional_call``), so D's own parameters and optimizer are untouched; buffers (batch-norm
statistics, spectral-norm vectors) are shared. Only the adversarial term is unrolled (AC-GAN / InfoGAN terms
are not).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from torch.func import functional_call

from ...errors import ConfigError
from ..base import Batch

if TYPE_CHECKING:
    from .model import GAN

Update = Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor]  # (name, param, grad) -> updated param


def sgd_update(lr: float) -> Update:
    """theta - lr * grad."""
    return lambda name, p, g: p - lr * g


def adam_update(optimizer: torch.optim.Optimizer, params: dict[str, torch.nn.Parameter]) -> Update:
    """Adam steps continuing ``optimizer``'s state for these named parameters (bias-corrected, as
    torch.optim.Adam; weight decay and amsgrad are not unrolled). Moments start at 0 for a parameter
    the optimizer has not stepped yet."""
    if not isinstance(optimizer, torch.optim.Adam):
        raise ConfigError(f"unroll_optimizer='adam' needs Adam for the discriminator, got "
                          f"{type(optimizer).__name__}; use optimizer=adam or unroll_optimizer='sgd'")
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    moments: dict[str, tuple] = {}
    for name, p in params.items():
        state, group = optimizer.state.get(p, {}), group_of[id(p)]
        step = float(state["step"]) if "step" in state else 0.0
        m = state["exp_avg"].detach() if "exp_avg" in state else torch.zeros_like(p)
        v = state["exp_avg_sq"].detach() if "exp_avg_sq" in state else torch.zeros_like(p)
        moments[name] = (step, m, v, group["lr"], *group["betas"], group["eps"])

    def update(name: str, p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        step, m, v, lr, beta1, beta2, eps = moments[name]
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        moments[name] = (step + 1, m, v, lr, beta1, beta2, eps)
        t = step + 1
        # clamp: sqrt's derivative at an exactly-zero second moment is infinite (0 * inf = nan)
        denom = (v / (1 - beta2 ** t)).clamp_min(1e-30).sqrt() + eps
        return p - lr * (m / (1 - beta1 ** t)) / denom

    return update


def unrolled_generator_loss(model: "GAN", batch: Batch,
                            d_optimizer: torch.optim.Optimizer | None = None) -> dict[str, torch.Tensor]:
    """G's loss against D unrolled ``model.config.schedule.unroll_steps`` steps on this batch; {"loss", "d_fake", ...}.
    ``d_optimizer``: D's optimizer, whose state the Adam unroll continues (needed for unroll_optimizer="adam")."""
    cfg = model.config.schedule
    critic = model.critic
    y = model._labels(batch)
    lat, fake = model.generated(batch, y)  # (B, ...), with G's graph
    target = model.real_target
    named = {n: p for n, p in critic.named_parameters() if p.requires_grad}
    if cfg.unroll_optimizer == "adam":
        if d_optimizer is None:
            raise ConfigError("schedule.unroll_optimizer='adam' continues the discriminator's optimizer: pass d_optimizer")
        update = adam_update(d_optimizer, named)
    else:
        update = sgd_update(cfg.unroll_lr)
    params = {n: p.detach().requires_grad_(True) for n, p in named.items()}
    for _ in range(cfg.unroll_steps):
        f = fake if cfg.unroll_second_order else fake.detach()
        real_logits = functional_call(critic, params, (batch.x, y)).logits
        fake_logits = functional_call(critic, params, (f, lat.labels)).logits
        d_loss = model.objective.d_loss(real_logits, fake_logits, target)
        grads = torch.autograd.grad(d_loss, list(params.values()), create_graph=cfg.unroll_second_order,
                                    allow_unused=True)
        params = {n: update(n, p, g) if g is not None else p for (n, p), g in zip(params.items(), grads)}
        if not cfg.unroll_second_order:
            params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    out = functional_call(critic, params, (fake, lat.labels))
    loss = model.objective.g_loss(out.logits)
    return {"loss": loss, "d_fake_unrolled": out.logits.detach().mean()}
