"""Restricted Boltzmann machines as models (Smolensky 1986; Hinton 2002): the binary RBM (``rbm``) on binary
images and the Gaussian-Bernoulli RBM (``grbm``) on real-valued ones, each one layer (rbm_layer.py,
gaussian_layer.py) trained by contrastive divergence (CD-k) or persistent CD on the manual path; momentum is the
optimizer's (SGD with train.betas[0]).

log p(x) = -F(x) - log Z, with log Z exact by enumeration (at most 20 units in the smaller layer; for the GRBM, 20
hiddens) or an AIS estimate (Salakhutdinov and Murray 2008) whose standard error the evaluation reports. The
GRBM models dequantised 8-bit images (k + u) / 256 as densities on [0, 1]^D, so its log P(k) is, as a flow's,
that density minus D log 256.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...config import positive
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ..base import Batch, GenerativeModel
from ..registry import register_model
from .gaussian_layer import GaussianRBMLayer
from .partition import partition_fields
from .rbm_layer import CDSettings, RBMLayer, image_shape
from .sampling import GibbsSampled


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
        for name in ("cd_k", "chains", "ais_steps", "ais_runs", "init_std"):
            positive(name, getattr(self, name))
        for h in (self.hidden if isinstance(self.hidden, (tuple, list)) else (self.hidden,)):
            positive("hidden", h)
        for name in ("weight_cost", "sparsity_cost"):
            positive(name, getattr(self, name), allow_zero=True)
        if not 0 <= self.sparsity_target < 1:
            raise ConfigError(f"sparsity_target must be in [0, 1), got {self.sparsity_target}")

    @property
    def cd(self) -> CDSettings:
        """How each layer learns."""
        return CDSettings(self.cd_k, self.persistent, self.weight_cost, self.sparsity_target, self.sparsity_cost)


@dataclass(frozen=True)
class GaussianRBMConfig(RBMConfig):
    """A Gaussian-Bernoulli RBM: the binary RBM's settings and the visibles' variances."""

    learn_variance: bool = True  # learn log s^2 per pixel (of the standardised data); else keep s = 1
    min_std: float = 1 / 256  # floor of each pixel's standard deviation in data units (one quantisation step)

    def __post_init__(self):
        super().__post_init__()
        positive("min_std", self.min_std)


class RBM(GibbsSampled, GenerativeModel):
    """Binary RBM over images (C, H, W) flattened to D visibles: ``layer`` (rbm_layer.RBMLayer) holds W (D, H),
    b (D,), c (H,) and the persistent chains."""

    Config = RBMConfig
    input_transform = "binary"
    manual_optimization = True
    # Hinton's guide: SGD with momentum, lr 0.1 for binary units, mini-batches of 10-100
    default_train = {"optimizer": "sgd", "lr": 0.05, "betas": (0.9, 0.999), "batch_size": 100, "steps": 30_000}
    tiny = {"hidden": 8, "chains": 10, "ais_steps": 50, "ais_runs": 8}
    sample_batch = 100

    def __init__(self, config: RBMConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.shape = image_shape(type(self).__name__.lower(), info)
        self.layer = self.make_layer(math.prod(self.shape), config)

    def make_layer(self, visible: int, config: RBMConfig) -> RBMLayer:
        return RBMLayer(visible, config.hidden, config.chains if config.persistent else 0, config.init_std)

    # the layer's parameters and state under the names of the papers
    w = property(lambda self: self.layer.w)
    b = property(lambda self: self.layer.b)
    c = property(lambda self: self.layer.c)
    chains = property(lambda self: self.layer.chains)
    data_mean = property(lambda self: self.layer.data_mean)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) (B,) of flat visibles v (B, D)."""
        return self.layer.free_energy(v)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """p(h = 1 | v): (B, D) -> (B, H)."""
        return self.layer.hidden_probs(v)

    def gibbs(self, v: torch.Tensor, sweeps: int, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sweeps`` block-Gibbs sweeps from v (B, D) -> (the last v, E[v | the last h])."""
        return self.layer.gibbs(v, sweeps, generator)

    def pseudo_likelihood(self, v: torch.Tensor, pre: torch.Tensor | None = None) -> torch.Tensor:
        """Stochastic log pseudo-likelihood of binary v (B, D), mean over the batch."""
        return self.layer.pseudo_likelihood(v, pre)

    # --- training ----------------------------------------------------------------------------
    def training_step(self, batch: Batch, ctx) -> dict[str, torch.Tensor]:
        loss, logs = self.layer.cd_loss(batch.x.flatten(1), self.config.cd)
        ctx.backward(loss)  # a loss without a graph (no regulariser) is only checked for non-finite values
        ctx.step()
        return {"loss": loss.detach(), **logs}

    # --- likelihood --------------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """Whether log Z is computed by enumeration."""
        return self.layer.exact

    @property
    def log_prob_kind(self) -> str:  # type: ignore[override]
        return "exact" if self.exact else "estimate"

    @property
    def likelihood_estimator(self) -> str:
        return "exact" if self.exact else "ais"

    def log_partition(self, generator: torch.Generator | None = None) -> tuple[float, float, object]:
        """(log Z, its standard error, the AIS estimate or None), cached until the weights change."""
        return self.layer.log_partition(self.config.ais_steps, self.config.ais_runs, generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = -F(x) - log Z (B,) in nats of the binary images x (B, C, H, W); with AIS's log Z an
        estimate (``likelihood_note`` gives its standard error)."""
        return -self.free_energy(x.flatten(1)) - self.log_partition()[0]

    def likelihood_fields(self, nll: float) -> dict:
        """log Z and, for AIS, its standard error and the NLL's interval (partition.partition_fields)."""
        return partition_fields(nll, *self.log_partition())

    @property
    def likelihood_note(self) -> str:
        if self.exact:
            return "log Z by exact enumeration of the smaller layer"
        log_z, se, est = self.log_partition()
        return (f"AIS estimate (Salakhutdinov and Murray 2008): log Z = {log_z:.3f} +- {se:.3f} (standard error, "
                f"{est.runs} runs, {est.steps} inverse temperatures from the base-rate model); every log p(x) "
                f"shifts by the error of log Z, and AIS errs towards too high a log p(x): E[log Z_AIS] <= log Z")

    # --- sampling ----------------------------------------------------------------------------
    def to_images(self, v: torch.Tensor) -> torch.Tensor:
        """Visible states or means (n, D) as images (n, C, H, W) in [0, 1]."""
        return v.clamp(0, 1).reshape(len(v), *self.shape)

    def chain_start(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Where sampling chains start (n, D): uniform random bits."""
        return (torch.rand(n, self.layer.visible, generator=generator) < 0.5).float().to(self.device)

    def chain_sweeps(self, v, sweeps, generator):
        return self.gibbs(v, sweeps, generator)

    def chain_images(self, v, visible_mean, use_mean, generator):
        return self.to_images(visible_mean if use_mean else v)


class GaussianRBM(RBM):
    """Gaussian-Bernoulli RBM over real-valued images (dequantised 8-bit data in [0, 1]); the layer also holds
    the log-variances ``log_var`` (D,)."""

    Config = GaussianRBMConfig
    input_transform = "dequantized"
    # Hinton's guide: a learning rate one or two orders of magnitude smaller than for binary visibles
    default_train = {"optimizer": "sgd", "lr": 1e-3, "betas": (0.9, 0.999), "batch_size": 100, "steps": 30_000}
    tiny = {"hidden": 8, "chains": 10, "ais_steps": 50, "ais_runs": 8}

    def make_layer(self, visible: int, config: GaussianRBMConfig) -> RBMLayer:
        return GaussianRBMLayer(visible, config.hidden, config.chains if config.persistent else 0, config.init_std,
                                config.learn_variance, config.min_std)

    @property
    def log_prob_kind(self) -> str:  # type: ignore[override]
        return "bound" if self.exact else "estimate"  # of the 8-bit data: one dequantisation draw per image

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(z) (B,) of flat data v (B, D), standardised first (the layer works on z)."""
        return self.layer.free_energy(self.layer.standardize(v))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log P(k) of the 8-bit images (B,) in nats, from the density of x = (k + u) / 256 (B, C, H, W): a
        one-draw lower bound (Jensen) with an exact or AIS log Z; log p(x) = -F(z) - log Z - sum log scale."""
        return (-self.free_energy(x.flatten(1)) - self.log_partition()[0] - self.layer.log_scale()
                - x[0].numel() * math.log(256.0))

    def to_images(self, v: torch.Tensor) -> torch.Tensor:
        return super().to_images(self.layer.destandardize(v))

    @property
    def likelihood_note(self) -> str:
        dequantised = "density of the dequantised image (k + u) / 256 minus D log 256: a lower bound on log P(k)"
        if self.exact:
            return f"{dequantised}; log Z exact (enumerating the hiddens)"
        log_z, se, est = self.log_partition()
        return (f"{dequantised}; AIS estimate of log Z = {log_z:.3f} +- {se:.3f} (standard error, {est.runs} runs, "
                f"{est.steps} inverse temperatures from W = 0)")

    def chain_start(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Chains start from the visibles' own Gaussians N(b, s^2) (the model with W = 0), standardised."""
        layer = self.layer
        noise = torch.randn(n, layer.visible, generator=generator).to(self.device)
        return layer.b.detach() + noise * layer.var.detach().sqrt()

    def sample_semantics(self, options):
        return "visible means" if options.get("mean", True) else "draws"


register_model("rbm", RBM, "binary restricted Boltzmann machine by CD-k or persistent CD; log Z exact or by AIS")
register_model("grbm", GaussianRBM, "Gaussian-Bernoulli RBM for real-valued images (learned or fixed variances)")
