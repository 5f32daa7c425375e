"""The unrolled generator loss of Metz et al. (2017): G is scored against D after k further D updates.

theta_D^0 = theta_D, theta_D^{i+1} = theta_D^i - eta * grad f_D(theta_G, theta_D^i) (plain gradient steps, the
paper's surrogate), and G minimises its objective against D(.; theta_D^k). With ``second_order`` the gradient
flows through the unrolled updates (the term that lets G anticipate D's response); without it the lookahead D
is a constant. The unrolling runs on a functional copy of D (``torch.func.functional_call``), so D's own
parameters and optimizer are untouched; buffers (batch-norm statistics, spectral-norm vectors) are shared.
Only the adversarial term is unrolled (AC-GAN / InfoGAN terms are not).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.func import functional_call

from ..base import Batch
from .tricks import real_label

if TYPE_CHECKING:
    from .model import GAN


def unrolled_generator_loss(model: "GAN", batch: Batch) -> dict[str, torch.Tensor]:
    """G's loss against D unrolled ``model.config.unroll_steps`` steps on this batch; {"loss", "d_fake", ...}."""
    cfg = model.config
    critic = model.critic
    y = model._labels(batch)
    lat, fake = model.generated(batch, y)  # (B, ...), with G's graph
    target = real_label(cfg.label_smoothing)
    names = [n for n, p in critic.named_parameters() if p.requires_grad]
    params = {n: p.detach().requires_grad_(True) for n, p in critic.named_parameters() if p.requires_grad}
    for _ in range(cfg.unroll_steps):
        f = fake if cfg.unroll_second_order else fake.detach()
        real_logits = functional_call(critic, params, (batch.x, y)).logits
        fake_logits = functional_call(critic, params, (f, lat.labels)).logits
        d_loss = model.objective.d_loss(real_logits, fake_logits, target)
        grads = torch.autograd.grad(d_loss, [params[n] for n in names], create_graph=cfg.unroll_second_order,
                                    allow_unused=True)
        params = {n: params[n] - cfg.unroll_lr * g if g is not None else params[n] for n, g in zip(names, grads)}
        if not cfg.unroll_second_order:
            params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    out = functional_call(critic, params, (fake, lat.labels))
    loss = model.objective.g_loss(out.logits)
    return {"loss": loss, "d_fake_unrolled": out.logits.detach().mean()}
