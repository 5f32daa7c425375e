"""The Gaussian-Bernoulli RBM layer for real-valued visibles (Cho, Ilin and Raiko 2011's parameterisation),
on standardised data z = (x - shift) / scale (Hinton's practical guide: per-pixel means and standard deviations
of the first training batch, the scale floored at ``min_std``, so every z is of order one and so are the
gradients: on raw [0, 1] pixels a constant border pixel's tiny variance made W's gradient blow up):

E(z, h) = sum_i (z_i - b_i)^2 / (2 s_i^2) - c.h - sum_ij (z_i / s_i^2) W_ij h_j,

so p(z | h) = N(b + W h, diag(s^2)) and p(h_j = 1 | z) = sigmoid(c_j + sum_i W_ij z_i / s_i^2); free energy
F(z) = sum_i (z_i - b_i)^2 / (2 s_i^2) - sum_j softplus(c_j + (z / s^2)' W_j). The variances s^2 start at 1 and
are learned (as log s^2) or fixed, floored so that s_i scale_i >= ``min_std`` (no finer than one quantisation
step of the data); the persistent chains start from the first batch's images. Every method here works on z;
``standardize`` / ``destandardize`` convert, and log p(x) = log p(z) - sum_i log scale_i.

log Z: summing z out in closed form for each hidden state, log Z = sum_i log(2 pi s_i^2) / 2 + log sum_h
exp(c.h + sum_i ((b_i + (W h)_i)^2 - b_i^2) / (2 s_i^2)): exact by enumerating up to 20 hiddens; else AIS that
scales W by beta from the model with W = 0 (independent Gaussian visibles and Bernoulli hiddens).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .partition import MAX_ENUMERATED, AISEstimate, all_states, anneal, paper_schedule, uniforms
from .rbm_layer import CDSettings, RBMLayer


class GaussianRBMLayer(RBMLayer):
    """Gaussian visibles (D,) with standard deviations ``std`` and binary hiddens (H,)."""

    gaussian = True

    def __init__(self, visible: int, hidden: int, chains: int = 0, init_std: float = 0.01,
                 learn_variance: bool = True, min_std: float = 1 / 256):
        super().__init__(visible, hidden, chains, init_std)
        self.min_std = min_std
        log_var = torch.zeros(visible)
        if learn_variance:
            self.log_var = nn.Parameter(log_var)
        else:
            self.register_buffer("log_var", log_var)
        self.learn_variance = learn_variance
        self.register_buffer("shift", torch.zeros(visible))
        self.register_buffer("scale", torch.ones(visible))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def initial_chains(self, n: int, visible: int) -> torch.Tensor:
        return torch.zeros(n, visible)  # replaced by training images at the first step

    @property
    def var(self) -> torch.Tensor:
        """s^2 (D,) of the standardised visibles, at least (min_std / scale)^2."""
        return torch.maximum(torch.exp(self.log_var), (self.min_std / self.scale) ** 2)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """z = (x - shift) / scale (B, D)."""
        return (x - self.shift) / self.scale

    def destandardize(self, z: torch.Tensor) -> torch.Tensor:
        """x = shift + scale z (B, D)."""
        return self.shift + self.scale * z

    def log_scale(self) -> torch.Tensor:
        """sum_i log scale_i: log p(x) = log p(z) - this."""
        return torch.log(self.scale).sum()

    # --- energies and conditionals -----------------------------------------------------------
    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.c, v / self.var, self.w)

    def visible_energy(self, v: torch.Tensor) -> torch.Tensor:
        return ((v - self.b).pow(2) / (2 * self.var)).sum(1)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.w.T + self.b

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.visible_mean(h)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device) if generator is not None \
            else torch.randn_like(mean)
        return mean + noise * self.var.sqrt(), mean

    # --- learning ----------------------------------------------------------------------------
    @torch.no_grad()
    def start_from(self, x: torch.Tensor) -> None:
        """The standardisation from the batch x (B, D) (its means; its standard deviations, at least
        ``min_std``) and the persistent chains from its images; once."""
        self.shift.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp(min=self.min_std))
        if len(self.chains):
            self.chains.copy_(self.standardize(x[torch.arange(len(self.chains), device=x.device) % len(x)]))
        self.initialized.fill_(True)

    def cd_loss(self, x: torch.Tensor, settings: CDSettings) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One CD step's loss mean F(z) - mean F(z~) on data x (B, D) (standardised here), regularisers
        included, for the caller's backward (autograd: the variances' gradient has no one-product form), and
        the reconstruction error in data units."""
        if not bool(self.initialized):
            self.start_from(x)
        z = self.standardize(x)
        self.observe(z)
        negative = self.negatives(z, settings)
        loss = self.free_energy(z).mean() - self.free_energy(negative).mean()
        with torch.no_grad():
            recon = (self.destandardize(self.visible_mean(self.hidden_probs(z))) - x).pow(2).sum(1).mean()
        return loss + self.regulariser(z, settings), {"reconstruction_error": recon}

    # --- the partition function --------------------------------------------------------------
    @property
    def exact(self) -> bool:
        return self.hidden <= MAX_ENUMERATED  # the visibles are summed out in closed form for any D

    def exact_log_partition(self) -> float:
        w, b, c, var = (t.detach().double() for t in (self.w, self.b, self.c, self.var))
        h = all_states(self.hidden, 0, 2 ** self.hidden, device=w.device)
        shifted = h @ w.T + b  # (2^H, D): the visibles' mean for each hidden state
        inner = h @ c + ((shifted.pow(2) - b.pow(2)) / (2 * var)).sum(1)
        return float(torch.logsumexp(inner, 0) + 0.5 * torch.log(2 * math.pi * var).sum())

    @torch.no_grad()
    def ais(self, steps: int, runs: int, generator: torch.Generator) -> AISEstimate:
        """AIS along f_beta(v) = exp(-sum (v - b)^2 / (2 s^2)) prod_j (1 + exp(c_j + beta (v / s^2)' W_j)) from
        the model with W = 0 (log Z_0 = sum log(2 pi s^2) / 2 + sum softplus(c)); Gibbs transitions at beta:
        h ~ sigmoid(c + beta (v / s^2) W), v ~ N(b + beta W h, s^2)."""
        w, b, c, var = self.w, self.b, self.c, self.var
        std, dev, dt = var.sqrt(), w.device, w.dtype
        rand = uniforms(generator, dev, dt)

        def step(v, beta_prev, beta):
            vw = (v / var) @ w
            increment = (F.softplus(c + beta * vw) - F.softplus(c + beta_prev * vw)).sum(1).double()
            h = (rand(vw.shape) < torch.sigmoid(c + beta * vw)).to(dt)
            v = b + beta * (h @ w.T) + std * torch.randn(v.shape, generator=generator).to(dev, dt)
            return increment, v

        start = b + std * torch.randn((runs, self.visible), generator=generator).to(dev, dt)
        log_z0 = float(0.5 * torch.log(2 * math.pi * var.double()).sum() + F.softplus(c.double()).sum())
        return anneal(step, start, log_z0, paper_schedule(steps))

    def pseudo_likelihood(self, v, pre=None):  # binary visibles only
        raise NotImplementedError("the pseudo-likelihood of real-valued visibles is not computed")

