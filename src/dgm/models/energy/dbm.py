"""Deep Boltzmann machine with two hidden layers (Salakhutdinov and Hinton 2009):

E(v, h1, h2) = -b.v - c1.h1 - c2.h2 - v'W1 h1 - h1'W2 h2.

Training has three phases (``training_phases``, each a share of the budget, the lr schedule restarting in each):
1. the bottom RBM (v, h1) with its hiddens seeing 2 v'W1 (the paper's pretraining: the input doubled, since in
   the DBM h1 hears from v and from h2);
2. the top RBM (h1, h2) on samples of h1, with its visibles seeing 2 W2 h2;
3. joint training of the DBM with those weights (W1, W2 and the biases b, c1, c2 are the pretraining layers'
   own parameters): the data term from the mean-field posterior Q(h1, h2 | v) = prod mu1^h1 (1 - mu1)^(1 - h1)
   prod mu2^h2 (1 - mu2)^(1 - h2), the model term from persistent Gibbs chains (v, h1, h2), as in the paper
   (``joint_sweeps`` sweeps per step; the chains start from the first joint batch and its mean field).

Mean field: mu1 = sigmoid(c1 + v W1 + mu2 W2'), mu2 = sigmoid(c2 + mu1 W2), updated in turn (each update
maximises the bound in its block, so the bound never decreases), from the doubled bottom-up pass mu1 =
sigmoid(c1 + 2 v W1). The bound: log p(v) >= -E(v, mu1, mu2) + H(mu1) + H(mu2) - log Z.

log Z: with h1 summed out, the DBM is an RBM whose "visible" layer is (v, h2) and whose hiddens are h1 (W =
[W1; W2'], biases [b; c2] and c1), so energy/partition.py's exact enumeration (h1 at most 20 units) and AIS from
base rates (the running means of v and of mu2 in training) apply unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...config import positive
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ..base import Batch, GenerativeModel
from ..registry import register_model
from .partition import MAX_ENUMERATED, PartitionCache, ais_log_partition, base_rate_biases, exact_log_partition, paper_schedule, \
    partition_fields
from .rbm import RBMConfig
from .rbm_layer import RBMLayer, bernoulli, image_shape
from .sampling import GibbsSampled


@dataclass(frozen=True)
class DBMConfig(RBMConfig):
    """Two hidden layers; the RBM's CD settings for the pretraining; the joint phase's mean field and chains."""

    hidden: tuple[int, ...] = (500, 1000)  # the paper's MNIST DBM: 784-500-1000
    phase_shares: tuple[float, float, float] = (0.25, 0.25, 0.5)  # bottom RBM, top RBM, joint training
    mean_field_steps: int = 10  # alternating updates of (mu1, mu2) per training batch
    eval_mean_field_steps: int = 30  # and for the bound at evaluation
    joint_sweeps: int = 1  # Gibbs sweeps of the persistent chains per joint step (the paper: 5)

    def __post_init__(self):
        super().__post_init__()
        positive("mean_field_steps", self.mean_field_steps)
        positive("eval_mean_field_steps", self.eval_mean_field_steps)
        positive("joint_sweeps", self.joint_sweeps)
        if not isinstance(self.hidden, (tuple, list)) or len(self.hidden) != 2:
            raise ConfigError(f"dbm has two hidden layers: hidden must be [H1, H2], got {self.hidden}")
        if len(self.phase_shares) != 3 or any(s <= 0 for s in self.phase_shares) or \
                abs(sum(self.phase_shares) - 1) > 1e-6:
            raise ConfigError(f"phase_shares (bottom RBM, top RBM, joint) must be 3 positive shares summing to 1, "
                              f"got {list(self.phase_shares)}")


class DBM(GibbsSampled, GenerativeModel):
    """Two-hidden-layer DBM over binary images flattened to D visibles: ``bottom`` (D, H1) and ``top`` (H1, H2)
    RBM layers hold W1, b, c1 and W2, c2 (the top layer's visible biases serve only its pretraining);
    ``chains`` (m, D + H1 + H2) are the joint phase's persistent (v, h1, h2)."""

    Config = DBMConfig
    input_transform = "binary"
    manual_optimization = True
    default_train = {"optimizer": "sgd", "lr": 0.05, "betas": (0.9, 0.999), "batch_size": 100, "steps": 60_000}
    tiny = {"hidden": (8, 6), "chains": 10, "ais_steps": 50, "ais_runs": 8, "mean_field_steps": 3,
            "eval_mean_field_steps": 5}
    sample_batch = 100
    log_prob_kind = "bound"

    def __init__(self, config: DBMConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.shape = image_shape("dbm", info)
        d, (h1, h2) = math.prod(self.shape), config.hidden
        pre_chains = config.chains if config.persistent else 0
        self.bottom = RBMLayer(d, h1, pre_chains, config.init_std, up_scale=2.0)
        self.top = RBMLayer(h1, h2, pre_chains, config.init_std, down_scale=2.0)
        self.register_buffer("chains", (torch.rand(config.chains, d + h1 + h2) < 0.5).float())
        # joint steps taken: the first one starts the chains from the data (a checkpointed count, so a resumed
        # run does not start them again)
        self.register_buffer("joint_steps", torch.zeros((), dtype=torch.int64))
        # running means of v and of mu2 over the joint phase: the base rates of AIS's start
        self.register_buffer("base_mean", torch.full((d + h2,), 0.5, dtype=torch.float64))
        self.register_buffer("base_count", torch.zeros((), dtype=torch.float64))
        self._log_z = PartitionCache()

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.bottom.visible, self.bottom.hidden, self.top.hidden

    # --- conditionals and mean field ---------------------------------------------------------
    def h1_input(self, v: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """c1 + v W1 + h2 W2' (B, H1)."""
        return self.bottom.c + v @ self.bottom.w + h2 @ self.top.w.T

    def v_probs(self, h1: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h1 @ self.bottom.w.T + self.bottom.b)

    def h2_probs(self, h1: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h1 @ self.top.w + self.top.c)

    @torch.no_grad()
    def mean_field(self, v: torch.Tensor, steps: int, trace: list | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu1 (B, H1), mu2 (B, H2)) after ``steps`` alternating updates from the doubled bottom-up pass;
        ``trace`` collects the bound's terms (without log Z) after the start and after each update."""
        mu1 = torch.sigmoid(self.bottom.c + 2 * (v @ self.bottom.w))
        mu2 = self.h2_probs(mu1)
        if trace is not None:
            trace.append(self.unnormalised_bound(v, mu1, mu2))
        for _ in range(steps):
            mu1 = torch.sigmoid(self.h1_input(v, mu2))
            if trace is not None:
                trace.append(self.unnormalised_bound(v, mu1, mu2))
            mu2 = self.h2_probs(mu1)
            if trace is not None:
                trace.append(self.unnormalised_bound(v, mu1, mu2))
        return mu1, mu2

    def energy(self, v: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """E(v, h1, h2) (B,), linear in each argument (so also -E at the mean-field probabilities)."""
        return -(v @ self.bottom.b + h1 @ self.bottom.c + h2 @ self.top.c + ((v @ self.bottom.w) * h1).sum(1)
                 + ((h1 @ self.top.w) * h2).sum(1))

    def unnormalised_bound(self, v, mu1, mu2) -> torch.Tensor:
        """-E(v, mu1, mu2) + H(mu1) + H(mu2) (B,): the mean-field bound on log p(v) before log Z."""
        entropy = F.binary_cross_entropy(mu1, mu1, reduction="none").sum(1) + \
            F.binary_cross_entropy(mu2, mu2, reduction="none").sum(1)
        return -self.energy(v, mu1, mu2) + entropy

    @torch.no_grad()
    def gibbs(self, state: torch.Tensor, sweeps: int, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sweeps`` sweeps of (v, h1, h2) states (B, D + H1 + H2): h1 given (v, h2), then v and h2 given h1 ->
        (the states, p(v | the last h1))."""
        d, h1n, _ = self.sizes
        v, h1, h2 = state[:, :d], state[:, d:d + h1n], state[:, d + h1n:]
        probs = v
        for _ in range(sweeps):
            h1 = bernoulli(torch.sigmoid(self.h1_input(v, h2)), generator)
            probs = self.v_probs(h1)
            v, h2 = bernoulli(probs, generator), bernoulli(self.h2_probs(h1), generator)
        return torch.cat([v, h1, h2], 1), probs

    # --- training ----------------------------------------------------------------------------
    def training_phases(self) -> list[tuple[str, float]]:
        return [(name, float(s)) for name, s in zip(("bottom", "top", "joint"), self.config.phase_shares)]

    def training_step(self, batch: Batch, ctx) -> dict[str, torch.Tensor]:
        v = batch.x.flatten(1)
        phase = getattr(ctx, "phase", None) or "joint"
        if phase == "bottom":
            loss, logs = self.bottom.cd_loss(v, self.config.cd)
        elif phase == "top":
            h1 = bernoulli(self.bottom.hidden_probs(v), None)  # the doubled up-pass, as the paper's pretraining
            loss, logs = self.top.cd_loss(h1, self.config.cd)
        else:
            loss, logs = self.joint_loss(v)
        ctx.backward(loss)
        ctx.step()
        return {"loss": loss.detach(), "phase": torch.tensor(float(("bottom", "top", "joint").index(phase) + 1)),
                **logs}

    @torch.no_grad()
    def data_chains(self, v: torch.Tensor, mu1: torch.Tensor, mu2: torch.Tensor) -> torch.Tensor:
        """Chain states (m, D + H1 + H2) from a batch v (B, D) and its mean field (mu1, mu2): the data cycled
        to m rows, h1 and h2 drawn from mu1 and mu2."""
        rows = torch.arange(len(self.chains), device=v.device) % len(v)
        return torch.cat([v[rows], bernoulli(mu1[rows], None), bernoulli(mu2[rows], None)], 1)

    @torch.no_grad()
    def joint_loss(self, v: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The joint phase: gradients of mean E(v, mu) - mean E(chains) set in closed form (the data's
        mean-field statistics minus the chains'), the chains moved ``joint_sweeps`` sweeps first; the loss is
        that energy difference, and the logged bound is the data's mean-field bound without log Z. The first
        joint step starts the chains from the batch (as from random bits, the model statistics of the first
        steps would be far from the pretrained model's)."""
        d, h1n, _ = self.sizes
        mu1, mu2 = self.mean_field(v, self.config.mean_field_steps)
        seen = float(self.base_count) + len(v)
        self.base_mean.mul_(1 - len(v) / seen).add_(torch.cat([v, mu2], 1).sum(0).double() / seen)
        self.base_count.fill_(seen)
        if int(self.joint_steps) == 0:
            self.chains.copy_(self.data_chains(v, mu1, mu2))
        self.joint_steps += 1
        state, _ = self.gibbs(self.chains, self.config.joint_sweeps)
        self.chains.copy_(state)
        sv, sh1, sh2 = state[:, :d], state[:, d:d + h1n], state[:, d + h1n:]
        n, m = len(v), len(state)
        bottom, top = self.bottom, self.top
        bottom.w.grad = -(v.T @ mu1 / n - sv.T @ sh1 / m)
        top.w.grad = -(mu1.T @ mu2 / n - sh1.T @ sh2 / m)
        bottom.b.grad = -(v.mean(0) - sv.mean(0))
        bottom.c.grad = -(mu1.mean(0) - sh1.mean(0))
        top.c.grad = -(mu2.mean(0) - sh2.mean(0))
        loss = self.energy(v, mu1, mu2).mean() - self.energy(sv, sh1, sh2).mean()
        if self.config.weight_cost:
            for w in (bottom.w, top.w):
                w.grad += self.config.weight_cost * w
        return loss, {"mean_field_bound_unnormalised": self.unnormalised_bound(v, mu1, mu2).mean()}

    # --- likelihood --------------------------------------------------------------------------
    def as_rbm(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W (D + H2, H1), b (D + H2,), c (H1,)) of the RBM with visibles (v, h2) and hiddens h1 that the DBM is
        once h1's interactions are written out: the same log Z."""
        w = torch.cat([self.bottom.w, self.top.w.T], 0)
        return w, torch.cat([self.bottom.b, self.top.c]), self.bottom.c

    @property
    def exact(self) -> bool:
        w = self.as_rbm()[0]
        return min(w.shape) <= MAX_ENUMERATED

    @torch.no_grad()
    def log_partition(self, generator: torch.Generator | None = None):
        """(log Z, its standard error, the AIS estimate or None), cached until the parameters change."""
        def compute():
            w, b, c = self.as_rbm()
            if self.exact:
                return exact_log_partition(w, b, c), 0.0, None
            cfg = self.config
            est = ais_log_partition(w, b, c, base_rate_biases(self.base_mean), paper_schedule(cfg.ais_steps),
                                    cfg.ais_runs, generator or torch.Generator().manual_seed(0))
            return est.log_z, est.stderr, est

        params = (self.bottom.w, self.bottom.b, self.bottom.c, self.top.w, self.top.c)
        return self._log_z.get(params, (self.config.ais_steps, self.config.ais_runs), compute)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The mean-field lower bound on log p(x) (B,) in nats of binary images x (B, C, H, W)."""
        v = x.flatten(1)
        mu1, mu2 = self.mean_field(v, self.config.eval_mean_field_steps)
        return self.unnormalised_bound(v, mu1, mu2) - self.log_partition()[0]

    @property
    def likelihood_estimator(self) -> str:
        return f"mean-field bound ({self.config.eval_mean_field_steps} updates), log Z " + \
            ("exact" if self.exact else "by AIS")

    def likelihood_fields(self, nll: float) -> dict:
        return partition_fields(nll, *self.log_partition())

    @property
    def likelihood_note(self) -> str:
        bound = "mean-field lower bound on log p(x) (Salakhutdinov and Hinton 2009)"
        if self.exact:
            return f"{bound}; log Z exact (h1 enumerated)"
        log_z, se, est = self.log_partition()
        return (f"{bound}; log Z by AIS over the DBM with h1 summed out = {log_z:.3f} +- {se:.3f} (standard error, "
                f"{est.runs} runs, {est.steps} inverse temperatures from base rates of v and mu2)")

    # --- sampling ----------------------------------------------------------------------------
    def chain_start(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Chains over (v, h1, h2) start (n, D + H1 + H2) from the base rates of v and mu2 (AIS's start, the
        running means of the joint phase; 0.5 before it) and random h1 bits, which the first sweep redraws given
        (v, h2). Uniform random images start far from every mode and the chains settle into one blurred state."""
        d, h1 = self.sizes[0], self.sizes[1]
        rates = self.base_mean.float().to(self.device)
        probs = torch.cat([rates[:d], torch.full((h1,), 0.5, device=self.device), rates[d:]])
        return bernoulli(probs.expand(n, -1), generator)

    def chain_sweeps(self, state, sweeps, generator):
        return self.gibbs(state, sweeps, generator)

    def chain_images(self, state, visible_mean, use_mean, generator):
        return (visible_mean if use_mean else state[:, :self.sizes[0]]).reshape(len(state), *self.shape)


register_model("dbm", DBM, "two-layer deep Boltzmann machine: paper pretraining, mean field, PCD, AIS log Z")
