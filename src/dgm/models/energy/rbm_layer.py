"""A restricted Boltzmann machine as a layer over flat vectors: the one building block of the RBM, the
Gaussian-Bernoulli RBM (gaussian_layer.py), the deep belief network's stack and the deep Boltzmann machine's
pretraining. The models (rbm.py, dbn.py) wrap layers; the layer owns the energies, the conditionals, block
Gibbs sampling, the contrastive-divergence gradient and log Z.

Binary visibles v and hiddens h: E(v, h) = -b.v - c.h - v'Wh; free energy F(v) = -b.v - sum_j softplus(c_j +
v'W_j); p(v) = exp(-F(v)) / Z. The CD gradient of log p(v) is -dF(v)/dtheta + dF(v~)/dtheta at negative samples
v~ from k Gibbs sweeps (from the data, or from persistent chains: Tieleman 2008), so the loss is mean F(v) -
mean F(v~) with v~ held fixed; Hinton's practical guide's L2 weight cost and sparsity target are added to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError

from .partition import MAX_ENUMERATED, AISEstimate, PartitionCache, ais_log_partition, base_rate_biases, exact_log_partition, \
    paper_schedule


@dataclass(frozen=True)
class CDSettings:
    """How a layer learns: CD-``k``, persistent when ``persistent``; L2 ``weight_cost`` on W (as 0.5 cost |W|^2 in
    the loss) and the cross-entropy between a ``sparsity_target`` and the hiddens' mean activation."""

    k: int = 1
    persistent: bool = False
    weight_cost: float = 0.0
    sparsity_target: float = 0.0
    sparsity_cost: float = 0.0


class RBMLayer(nn.Module):
    """Binary RBM over vectors: ``w`` (D, H), visible biases ``b`` (D,), hidden biases ``c`` (H,); ``chains``
    persistent negative chains (PCD; 0 for CD) and the running mean of the data it saw (AIS's base rates)."""

    gaussian = False

    def __init__(self, visible: int, hidden: int, chains: int = 0, init_std: float = 0.01, up_scale: float = 1.0,
                 down_scale: float = 1.0):
        super().__init__()
        # a DBM's pretraining doubles the input one way (Salakhutdinov and Hinton 2009): the bottom RBM's hiddens
        # see 2 v'W, the top RBM's visibles 2 W h; the CD rule keeps its form with these conditionals
        self.up_scale, self.down_scale = up_scale, down_scale
        self.w = nn.Parameter(torch.randn(visible, hidden) * init_std)
        self.b = nn.Parameter(torch.zeros(visible))
        self.c = nn.Parameter(torch.zeros(hidden))
        self.register_buffer("chains", self.initial_chains(chains, visible))
        # the mean of every vector seen in training (over whole epochs: the data's marginals) and their count
        self.register_buffer("data_mean", torch.full((visible,), 0.5, dtype=torch.float64))
        self.register_buffer("data_count", torch.zeros((), dtype=torch.float64))
        self._log_z = PartitionCache()

    def initial_chains(self, n: int, visible: int) -> torch.Tensor:
        """Persistent chains' start (n, D): uniform random bits."""
        return (torch.rand(n, visible) < 0.5).float()

    @property
    def visible(self) -> int:
        return self.w.shape[0]

    @property
    def hidden(self) -> int:
        return self.w.shape[1]

    # --- energies and conditionals -----------------------------------------------------------
    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """c + v W (B, H) of visibles v (B, D) (times ``up_scale``: c + 2 v W in a DBM's bottom layer)."""
        return torch.addmm(self.c, v, self.w, alpha=self.up_scale)

    def visible_energy(self, v: torch.Tensor) -> torch.Tensor:
        """The visible units' own term of the energy and free energy (B,): -b.v."""
        return -(v @ self.b)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) (B,) for visibles v (B, D)."""
        return self.visible_energy(v) - F.softplus(self.hidden_input(v)).sum(1)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """p(h_j = 1 | v): (B, D) -> (B, H)."""
        return torch.sigmoid(self.hidden_input(v))

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h] = p(v_i = 1 | h): (B, H) -> (B, D) (W h times ``down_scale``)."""
        return torch.sigmoid(torch.addmm(self.b, h, self.w.T, alpha=self.down_scale))

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(v ~ p(v | h), E[v | h]) for hiddens h (B, H)."""
        mean = self.visible_mean(h)
        return bernoulli(mean, generator), mean

    def gibbs(self, v: torch.Tensor, sweeps: int, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sweeps`` block-Gibbs sweeps v -> h -> v from v (B, D) -> (the last v, E[v | the last h])."""
        mean = v
        for _ in range(sweeps):
            h = bernoulli(self.hidden_probs(v), generator)
            v, mean = self.sample_visible(h, generator)
        return v, mean

    # --- learning ----------------------------------------------------------------------------
    @torch.no_grad()
    def observe(self, v: torch.Tensor) -> None:
        """Fold the vectors v (B, D) into the running mean of the training data."""
        seen = float(self.data_count) + len(v)
        self.data_mean.mul_(1 - len(v) / seen).add_(v.sum(0).double() / seen)
        self.data_count.fill_(seen)

    @torch.no_grad()
    def negatives(self, v: torch.Tensor, settings: CDSettings) -> torch.Tensor:
        """Negative samples: k Gibbs sweeps from the data v (B, D), or from the persistent chains (updated)."""
        start = self.chains if settings.persistent else v
        negative, _ = self.gibbs(start, settings.k)
        if settings.persistent:
            self.chains.copy_(negative)
        return negative

    def cd_loss(self, v: torch.Tensor, settings: CDSettings) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One CD step's loss on data v (B, D) and its logged figures: the gradient of mean F(v) - mean F(v~) is
        set on the parameters in closed form (autograd through the free energy costs three times as much), the
        regularisers' are left to the caller's backward of the returned loss."""
        self.observe(v)
        negative = self.negatives(v, settings)
        n = len(v)
        with torch.no_grad():
            # dF(x)/dW = -x' sigmoid(c + x W), dF(x)/db = -x, dF(x)/dc = -sigmoid(c + x W), weighted -1/n on the
            # data and +1/m on the m negatives: one (D, n + m) x (n + m, H) product for both. (A scaled layer of a
            # DBM's pretraining keeps this rule, x' p(h | x), as Salakhutdinov and Hinton's code does.)
            both = torch.cat([v, negative])
            pre = self.hidden_input(both)
            free = self.visible_energy(both) - F.softplus(pre).sum(1)
            loss = free[:n].mean() - free[n:].mean()
            coef = torch.cat([v.new_full((n,), -1 / n), v.new_full((len(negative),), 1 / len(negative))])
            weighted = torch.sigmoid(pre) * coef[:, None]
            self.w.grad, self.b.grad, self.c.grad = both.T @ weighted, coef @ both, weighted.sum(0)
            # logged before the update, of the weights the loss saw
            logs = {"reconstruction_error": (self.visible_mean(torch.sigmoid(pre[:n])) - v).pow(2).sum(1).mean(),
                    "pseudo_log_likelihood": self.pseudo_likelihood(v, pre[:n])}
        return loss + self.regulariser(v, settings), logs

    def regulariser(self, v: torch.Tensor, settings: CDSettings) -> torch.Tensor:
        """Weight cost and sparsity penalty on data v (B, D), with their graph (0 when both are off)."""
        out = torch.zeros((), device=v.device)
        if settings.weight_cost:
            out = out + 0.5 * settings.weight_cost * self.w.pow(2).sum()
        if settings.sparsity_cost and settings.sparsity_target:
            q = self.hidden_probs(v).mean(0)
            out = out + settings.sparsity_cost * F.binary_cross_entropy(q, torch.full_like(q, settings.sparsity_target),
                                                                        reduction="sum")
        return out

    @torch.no_grad()
    def pseudo_likelihood(self, v: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        """Stochastic log pseudo-likelihood, mean over v (B, D): D log sigmoid(F(v with bit i flipped) - F(v)) at
        one random bit i per example; ``pre`` (B, H) = c + v W when known (flipping bit i adds +-W_i to it)."""
        pre = self.hidden_input(v) if pre is None else pre
        rows = torch.arange(len(v), device=v.device)
        i = torch.randint(v.shape[1], (len(v),), device=v.device)
        sign = 1 - 2 * v[rows, i]  # +1 where bit i turns on, -1 where it turns off
        # F(flipped) - F(v) = -sign b_i - sum_j [softplus(pre_j + sign W_ij) - softplus(pre_j)]
        flip = sign[:, None] * self.w[i] * self.up_scale
        delta = -sign * self.b[i] - (F.softplus(pre + flip) - F.softplus(pre)).sum(1)
        return (v.shape[1] * F.logsigmoid(delta)).mean()

    # --- the partition function --------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """Whether log Z is computed by enumeration (the smaller layer has at most 20 units)."""
        return min(self.w.shape) <= MAX_ENUMERATED

    def exact_log_partition(self) -> float:
        return exact_log_partition(self.w, self.b, self.c)

    def ais(self, steps: int, runs: int, generator: torch.Generator) -> AISEstimate:
        """AIS from the base-rate model of the data seen (Salakhutdinov and Murray 2008)."""
        return ais_log_partition(self.w, self.b, self.c, base_rate_biases(self.data_mean), paper_schedule(steps),
                                 runs, generator)

    @torch.no_grad()
    def log_partition(self, ais_steps: int, ais_runs: int, generator: torch.Generator | None = None
                      ) -> tuple[float, float, AISEstimate | None]:
        """(log Z, its standard error, the AIS estimate or None): exact when ``exact``, else AIS; cached until
        the parameters change."""
        def compute():
            if self.exact:
                return self.exact_log_partition(), 0.0, None
            est = self.ais(ais_steps, ais_runs, generator or torch.Generator().manual_seed(0))
            return est.log_z, est.stderr, est

        return self._log_z.get(self.parameters(), (ais_steps, ais_runs), compute)


def image_shape(name: str, info) -> tuple[int, ...]:
    """The (C, H, W) images an energy model flattens to its visibles; a clear error for points data."""
    if info.kind == "points" or len(info.shape) != 3:
        raise ConfigError(f"{name} models images (C, H, W); {info.name} has shape {tuple(info.shape)}")
    return tuple(info.shape)


def bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Binary draws of probabilities p, the uniforms drawn on the CPU from ``generator`` (the same on every device
    for a seed), or from the global RNG on p's device when None (uniforms compared with p: three times faster
    than torch.bernoulli on the CPU)."""
    if generator is None:
        return (torch.rand_like(p) < p).to(p.dtype)
    return (torch.rand(p.shape, generator=generator).to(p.device) < p).to(p.dtype)
