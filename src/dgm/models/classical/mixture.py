"""What every mixture fitted by expectation-maximisation shares: mixing weights, the E-step, the M-step's
weights, k-means++ initialisation, one EM iteration per training step, and ancestral sampling.

p(x) = sum_k pi_k p(x | k). A subclass gives ``component_log_prob`` (log p(x | k)), ``maximize`` (its
components' M-step from the responsibilities) and ``draw`` (samples of given components). The parameters are
float64 buffers, updated in closed form: the model has no optimizer, and the trainer's manual path only checks
each iteration's log-likelihood (a non-finite one leaves the parameters as they were and counts as a skipped
step).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ...nn.quantizer import kmeans_plus_plus, nearest_codes
from ..base import Batch, GenerativeModel, OptimizerGroup


class MixtureByEM(GenerativeModel):
    """The EM skeleton; ``config.components`` is K. One ``training_step`` = one EM iteration on the batch (exact
    EM when the batch is the whole training set, as the presets' batch sizes make it)."""

    manual_optimization = True
    log_prob_kind = "exact"

    def __init__(self, config, info):
        super().__init__(config, info)
        k = config.components
        self.register_buffer("log_weights", torch.full((k,), -math.log(k), dtype=torch.float64))
        # set by the first training step's k-means++ initialisation; saved, so a resume does not initialise again
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    # --- what a mixture defines --------------------------------------------------------------
    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """Prepared data (B, ...) -> the float64 vectors (B, D) the components model."""
        return x.flatten(1).double()

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, D) float64 -> log p(x | k) (B, K)."""
        raise NotImplementedError

    def maximize(self, x: torch.Tensor, resp: torch.Tensor, nk: torch.Tensor) -> None:
        """The components' M-step: x (B, D), responsibilities resp (B, K), their column sums nk (K,)."""
        raise NotImplementedError

    def draw(self, components: torch.Tensor, generator: torch.Generator | None, **options) -> torch.Tensor:
        """One sample of each component index in components (n,) long -> samples as ``sample`` returns them."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------
    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        return {"main": OptimizerGroup([])}  # closed-form updates: no optimizer

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """log pi_k + log p(x | k): x as ``prepare`` gives it (B, ...) -> (B, K) float64."""
        return self.component_log_prob(self.flat(x)) + self.log_weights

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) (B,) in nats (of the binary data for a Bernoulli mixture, a density for a Gaussian one)."""
        return torch.logsumexp(self.log_joint(x), 1).float()

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """p(k | x): (B, ...) -> (B, K) float64, rows summing to 1."""
        return torch.softmax(self.log_joint(x), 1)

    def m_step(self, x: torch.Tensor, resp: torch.Tensor) -> None:
        """Weights and components from responsibilities (B, K); scikit-learn's 10 eps keeps empty components
        finite."""
        nk = resp.sum(0) + 10 * torch.finfo(resp.dtype).eps
        self.log_weights.copy_((nk / nk.sum()).log())
        self.maximize(x, resp, nk)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """k-means++ seeds among the rows of x (B, ...), every row given to its nearest seed, one M-step."""
        x = self.flat(x)
        k = self.config.components
        if len(x) < k:
            raise ConfigError(f"a mixture of {k} components needs batches of at least {k} examples to initialise, "
                              f"got {len(x)}; raise --batch-size or lower components")
        seeds = kmeans_plus_plus(x.cpu(), k, generator).to(x.device)  # the VQ codebook's seeding, shared
        self.m_step(x, F.one_hot(nearest_codes(x, seeds), k).to(x.dtype))
        self.initialized.fill_(True)

    @torch.no_grad()
    def em_step(self, x: torch.Tensor) -> torch.Tensor:
        """One EM iteration on x (B, ...): returns the mean log-likelihood of x under the parameters it started
        from (so over iterations on the same x it never decreases); a non-finite one changes nothing."""
        x = self.flat(x)
        joint = self.component_log_prob(x) + self.log_weights
        ll = joint.logsumexp(1, keepdim=True)
        mean = ll.mean()
        if bool(torch.isfinite(mean)):
            self.m_step(x, (joint - ll).exp())
        return mean

    def training_step(self, batch: Batch, ctx) -> dict[str, torch.Tensor]:
        if not bool(self.initialized):
            self.initialize(batch.x)
        ll = self.em_step(batch.x)
        ctx.backward(-ll)  # no gradient: the trainer's guard counts a non-finite iteration as a skipped step
        ctx.step()
        return {"loss": -ll, "log_likelihood": ll}

    @torch.no_grad()
    def components(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n component indices (n,) long drawn from the mixing weights, on the CPU from ``generator``."""
        return torch.multinomial(self.log_weights.detach().cpu().exp(), n, replacement=True, generator=generator)
