"""Restricted Boltzmann machine with binary visible and hidden units (Smolensky 1986; Hinton 2002), trained by
contrastive divergence (CD-k) or persistent CD (Tieleman 2008) on the manual path, with Hinton's practical
guide's L2 weight cost and sparsity target; momentum is the optimizer's (SGD with train.betas[0]).

E(v, h) = -b.v - c.h - v'Wh; free energy F(v) = -b.v - sum_j softplus(c_j + v'W_j); p(v) = exp(-F(v)) / Z.
The CD gradient of log p(v) is -dF(v)/dtheta + dF(v~)/dtheta at negative samples v~ from k Gibbs sweeps (from
the data, or from persistent chains), so the training loss is F(v) - F(v~) averaged, with v~ held fixed.
log Z: exact enumeration when the smaller layer has at most 20 units, else AIS (energy/partition.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import positive
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ..base import Batch, GenerativeModel
from ..registry import register_model
from .partition import MAX_ENUMERATED, AISEstimate, ais_log_partition, base_rate_biases, exact_log_partition, \
    paper_schedule


@dataclass(frozen=True)
class RBMConfig:
    """A binary RBM; CD-``cd_k``, persistent (``chains`` chains) when ``persistent``."""

    hidden: int = 500
    cd_k: int = 1  # Gibbs sweeps per negative sample
    persistent: bool = False  # PCD: the negative chains carry on from step to step (and across a resume)
    chains: int = 100  # persistent chains (PCD only)
    weight_cost: float = 0.0  # L2 penalty on W only (Hinton's guide: 1e-4), as 0.5 * cost * |W|^2 in the loss
    sparsity_target: float = 0.0  # desired mean activation of each hidden unit (0: off)
    sparsity_cost: float = 0.0  # weight of the cross-entropy between that target and the batch's mean activation
    init_std: float = 0.01  # W ~ N(0, init_std^2), hidden biases 0 (the guide's start)
    ais_steps: int = 14_500  # inverse temperatures of the AIS estimate of log Z (Salakhutdinov and Murray 2008)
    ais_runs: int = 100

    def __post_init__(self):
        for name in ("hidden", "cd_k", "chains", "ais_steps", "ais_runs", "init_std"):
            positive(name, getattr(self, name))
        for name in ("weight_cost", "sparsity_cost"):
            positive(name, getattr(self, name), allow_zero=True)
        if not 0 <= self.sparsity_target < 1:
            raise ConfigError(f"sparsity_target must be in [0, 1), got {self.sparsity_target}")


class RBM(GenerativeModel):
    """Binary RBM over images (C, H, W) flattened to D visibles; ``w`` (D, H), ``b`` (D,), ``c`` (H,)."""

    Config = RBMConfig
    input_transform = "binary"
    manual_optimization = True
    # Hinton's guide: SGD with momentum, lr 0.1 for binary units, mini-batches of 10-100
    default_train = {"optimizer": "sgd", "lr": 0.05, "betas": (0.9, 0.999), "batch_size": 100, "steps": 30_000}
    tiny = {"hidden": 8, "chains": 10, "ais_steps": 50, "ais_runs": 8}
    sample_batch = 100

    def __init__(self, config: RBMConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.kind == "points" or len(info.shape) != 3:
            raise ConfigError(f"rbm models binary images (C, H, W); {info.name} has shape {tuple(info.shape)}")
        self.shape = tuple(info.shape)
        d, h = math.prod(self.shape), config.hidden
        self.w = nn.Parameter(torch.randn(d, h) * config.init_std)
        self.b = nn.Parameter(torch.zeros(d))
        self.c = nn.Parameter(torch.zeros(h))
        self.register_buffer("chains", (torch.rand(config.chains if config.persistent else 0, d) < 0.5).float())
        # the mean of every training image seen (over whole epochs: the data's pixel marginals), and their count:
        # the base-rate model AIS starts from
        self.register_buffer("data_mean", torch.full((d,), 0.5, dtype=torch.float64))
        self.register_buffer("data_count", torch.zeros((), dtype=torch.float64))
        self._log_z_cache: tuple | None = None

    # --- energies and conditionals -----------------------------------------------------------
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) (B,) for visibles v (B, D) in [0, 1]."""
        return -(v @ self.b) - F.softplus(v @ self.w + self.c).sum(1)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """p(h_j = 1 | v): (B, D) -> (B, H)."""
        return torch.sigmoid(v @ self.w + self.c)

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        """p(v_i = 1 | h): (B, H) -> (B, D)."""
        return torch.sigmoid(h @ self.w.T + self.b)

    def gibbs(self, v: torch.Tensor, sweeps: int, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sweeps`` block-Gibbs sweeps v -> h -> v from v (B, D) -> (sampled v, p(v | last h)); noise on the
        CPU from ``generator`` (the global RNG when None)."""
        probs = v
        for _ in range(sweeps):
            h = bernoulli(self.hidden_probs(v), generator)
            probs = self.visible_probs(h)
            v = bernoulli(probs, generator)
        return v, probs

    # --- training ----------------------------------------------------------------------------
    def training_step(self, batch: Batch, ctx) -> dict[str, torch.Tensor]:
        cfg = self.config
        v = batch.x.flatten(1)
        n = len(v)
        with torch.no_grad():
            seen = float(self.data_count) + n
            self.data_mean.mul_(1 - n / seen).add_(v.sum(0).double() / seen)
            self.data_count.fill_(seen)
            start = self.chains if cfg.persistent else v
            negative, _ = self.gibbs(start, cfg.cd_k)
            if cfg.persistent:
                self.chains.copy_(negative)
            # the CD gradient in closed form (autograd through the free energy costs three times as much):
            # dF(x)/dW = -x' sigmoid(x W + c), dF(x)/db = -x, dF(x)/dc = -sigmoid(x W + c), with weights -1/n on
            # the data and +1/m on the m negatives, as the loss mean F(v) - mean F(v~) has them
            both = torch.cat([v, negative])
            pre = torch.addmm(self.c, both, self.w)  # (n + m, H): the hidden units' inputs
            free = -(both @ self.b) - F.softplus(pre).sum(1)
            loss = free[:n].mean() - free[n:].mean()
            coef = torch.cat([v.new_full((n,), -1 / n), v.new_full((len(negative),), 1 / len(negative))])
            weighted = torch.sigmoid(pre) * coef[:, None]
            self.w.grad, self.b.grad, self.c.grad = both.T @ weighted, coef @ both, weighted.sum(0)
            # logged before the update: both figures describe the weights the loss saw
            recon = (self.visible_probs(torch.sigmoid(pre[:n])) - v).pow(2).sum(1).mean()
            pseudo = self.pseudo_likelihood(v, pre[:n])
        # the regularisers by autograd, added to those gradients
        if cfg.weight_cost:
            loss = loss + 0.5 * cfg.weight_cost * self.w.pow(2).sum()
        if cfg.sparsity_cost and cfg.sparsity_target:
            q = self.hidden_probs(v).mean(0)
            target = torch.full_like(q, cfg.sparsity_target)
            loss = loss + cfg.sparsity_cost * F.binary_cross_entropy(q, target, reduction="sum")
        ctx.backward(loss)  # a loss without a graph is only checked for non-finite values
        ctx.step()
        return {"loss": loss.detach(), "reconstruction_error": recon, "pseudo_log_likelihood": pseudo}

    @torch.no_grad()
    def pseudo_likelihood(self, v: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        """Stochastic log pseudo-likelihood, mean over v (B, D): D log sigmoid(F(v with bit i flipped) - F(v)) at
        one random bit i per example; ``pre`` (B, H) = v W + c when known (flipping bit i adds +-W_i to it)."""
        pre = v @ self.w + self.c if pre is None else pre
        rows = torch.arange(len(v), device=v.device)
        i = torch.randint(v.shape[1], (len(v),), device=v.device)
        sign = 1 - 2 * v[rows, i]  # +1 where bit i turns on, -1 where it turns off
        # F(flipped) - F(v) = -sign b_i - sum_j [softplus(pre_j + sign W_ij) - softplus(pre_j)]
        delta = -sign * self.b[i] - (F.softplus(pre + sign[:, None] * self.w[i]) - F.softplus(pre)).sum(1)
        return (v.shape[1] * F.logsigmoid(delta)).mean()

    # --- likelihood --------------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """Whether log Z is computed by enumeration (the smaller layer has at most 20 units)."""
        return min(self.w.shape) <= MAX_ENUMERATED

    @property
    def log_prob_kind(self) -> str:  # type: ignore[override]
        return "exact" if self.exact else "estimate"

    @torch.no_grad()
    def log_partition(self, generator: torch.Generator | None = None) -> tuple[float, float, AISEstimate | None]:
        """(log Z, its standard error, the AIS estimate or None): exact when ``exact``, else AIS from the base
        rates of the training data; cached until the weights change."""
        key = tuple((p.data_ptr(), p._version) for p in (self.w, self.b, self.c))
        if self._log_z_cache is not None and self._log_z_cache[0] == key:
            return self._log_z_cache[1]
        if self.exact:
            out = (exact_log_partition(self.w, self.b, self.c), 0.0, None)
        else:
            cfg = self.config
            est = ais_log_partition(self.w, self.b, self.c, base_rate_biases(self.data_mean),
                                    paper_schedule(cfg.ais_steps), cfg.ais_runs,
                                    generator or torch.Generator().manual_seed(0))
            out = (est.log_z, est.stderr, est)
        self._log_z_cache = (key, out)
        return out

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = -F(x) - log Z (B,) in nats of the binary images x (B, C, H, W); with AIS's log Z an
        estimate (``likelihood_note`` gives its standard error)."""
        return -self.free_energy(x.flatten(1)) - self.log_partition()[0]

    @property
    def likelihood_estimator(self) -> str:
        return "exact" if self.exact else "ais"

    def likelihood_fields(self, nll: float) -> dict:
        """What the evaluation record adds to a mean NLL (nats): log Z and, for AIS, its standard error, the
        interval of the NLL at +-3 standard errors of log Z (the spread over the test images is the record's
        stderr_nats, apart), the runs, the inverse temperatures and the seconds the estimate took."""
        log_z, se, est = self.log_partition()
        if est is None:
            return {"log_z": log_z}
        return {"log_z": log_z, "log_z_stderr": se, "nll_interval_nats": [nll - 3 * se, nll + 3 * se],
                "ais_runs": est.runs, "ais_steps": est.steps, "ais_seconds": round(est.seconds, 2)}

    @property
    def likelihood_note(self) -> str:
        if self.exact:
            return "log Z by exact enumeration of the smaller layer"
        log_z, se, est = self.log_partition()
        return (f"AIS estimate (Salakhutdinov and Murray 2008): log Z = {log_z:.3f} +- {se:.3f} (standard error, "
                f"{est.runs} runs, {est.steps} inverse temperatures from the base-rate model); every log p(x) "
                f"shifts by the error of log Z, and AIS errs towards too high a log p(x): E[log Z_AIS] <= log Z")

    # --- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def trajectory(self, n: int, frames: int = 8, *, labels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, gibbs_steps: int = 1000, mean: bool = True
                   ) -> tuple[torch.Tensor, list[int]]:
        """``frames`` snapshots (frames, n, C, H, W) of n Gibbs chains from uniform noise, at sweeps spread
        evenly over ``gibbs_steps`` (the last one the samples), and those sweep counts."""
        if gibbs_steps < 1:
            raise ConfigError(f"gibbs_steps must be >= 1, got {gibbs_steps}")
        marks = sorted({round(gibbs_steps * (i + 1) / frames) for i in range(frames)} - {0})
        v = bernoulli(torch.full((n, self.w.shape[0]), 0.5, device=self.device), generator)
        shots, done = [], 0
        for mark in marks:
            v, probs = self.gibbs(v, mark - done, generator)
            done = mark
            shots.append((probs if mean else v).reshape(n, *self.shape))
        return torch.stack(shots), marks

    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               gibbs_steps: int = 1000, mean: bool = True) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1] after ``gibbs_steps`` block-Gibbs sweeps from uniform noise: the last
        sweep's p(v | h) (``mean``, as RBM papers show them) or its binary draw; labels are ignored."""
        return self.trajectory(n, 1, generator=generator, gibbs_steps=gibbs_steps, mean=mean)[0][-1]

    def sample_semantics(self, options):
        return "visible probabilities" if options.get("mean", True) else "draws"


def bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Binary draws of probabilities p, the uniforms drawn on the CPU from ``generator`` (the same on every device
    for a seed), or from the global RNG on p's device when None (uniforms compared with p: three times faster
    than torch.bernoulli on the CPU)."""
    if generator is None:
        return (torch.rand_like(p) < p).to(p.dtype)
    return (torch.rand(p.shape, generator=generator).to(p.device) < p).to(p.dtype)


register_model("rbm", RBM, "binary restricted Boltzmann machine by CD-k or persistent CD; log Z exact or by AIS")
