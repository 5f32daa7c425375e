"""Inverse autoregressive flow posteriors (Kingma et al. 2016): a Gaussian draw z_0 = mu + sigma * eps from the
encoder, then T steps of the numerically stable gated update

    (m, s) = MADE_t(z_{t-1}, h),   g = sigmoid(s + forget_bias),   z_t = g * z_{t-1} + (1 - g) * m,

each with a triangular Jacobian of diagonal g, so log q(z_T | x) = log q(z_0 | x) - sum_t sum_i log g_t,i. h is
context from the encoder; the order reverses between steps so every dimension gets to depend on every other."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.made import MADE


class IAFStep(nn.Module):
    """One gated IAF step: z (..., L), h (..., H) -> (z', log|det dz'/dz| (...,))."""

    def __init__(self, dim: int, hidden: tuple[int, ...], context_dim: int, order: torch.Tensor,
                 forget_bias: float = 1.0):
        super().__init__()
        self.made = MADE(dim, hidden, outputs=2, context_dim=context_dim, order=order)
        self.forget_bias = forget_bias  # starts g near sigmoid(1) = 0.73: close to the identity, as the paper

    def forward(self, z: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        m, s = self.made(z, h).unbind(-2)
        gate = torch.sigmoid(s + self.forget_bias)
        log_gate = -F.softplus(-(s + self.forget_bias))  # log sigmoid, stable for large |s|
        return gate * z + (1 - gate) * m, log_gate.sum(-1)


class IAF(nn.Module):
    """``steps`` IAF steps with alternating orders: z_0 (..., L), h (..., H) -> (z_T, sum of log-determinants
    (...,)); zero steps is the identity with log-determinant 0."""

    def __init__(self, dim: int, steps: int, hidden: tuple[int, ...], context_dim: int):
        super().__init__()
        forward, backward = torch.arange(dim), torch.arange(dim).flip(0)
        self.steps = nn.ModuleList(IAFStep(dim, hidden, context_dim, forward if t % 2 == 0 else backward)
                                   for t in range(steps))

    def forward(self, z: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = z.new_zeros(z.shape[:-1])
        for step in self.steps:
            z, ld = step(z, h)
            log_det = log_det + ld
        return z, log_det
