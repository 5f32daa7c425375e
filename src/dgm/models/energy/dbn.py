"""Deep belief network (Hinton, Osindero and Teh 2006): RBMs stacked greedily, layer by layer, each trained by
CD or PCD on samples of the hidden units of the ones below (``training_phases``: one phase per layer, each its
share of the steps or of the time budget, the lr schedule restarting in each), in one `dgm train dbn`.

The generative model: the top RBM over (h_{L-1}, h_L), and below it directed sigmoid layers p(h_{l-1} | h_l) =
sigmoid(W_l h_l + b_l) with the lower RBMs' weights and visible biases. Sampling runs Gibbs in the top RBM, then
one pass down. The variational lower bound (Salakhutdinov and Murray 2008) with Q the up-pass
Q(h_l | h_{l-1}) = sigmoid(c_l + h_{l-1} W_l):

log p(v) >= E_Q[sum_{l<L} log p(h_{l-1} | h_l) - F_top(h_{L-1})] - log Z_top + sum_l E_Q[H(Q(h_l | h_{l-1}))],

the expectation over ``bound_samples`` draws of the up-pass per image, each layer's entropy in closed form
given the layer below, and log Z_top exact or by AIS from the base rates of the top RBM's training input.
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
from .partition import partition_fields
from .rbm import RBMConfig
from .rbm_layer import RBMLayer, bernoulli, image_shape
from .sampling import GibbsSampled


@dataclass(frozen=True)
class DBNConfig(RBMConfig):
    """Hidden layer sizes bottom to top; the RBM's CD settings for every layer."""

    hidden: tuple[int, ...] = (500, 2000)  # Salakhutdinov and Murray's 784-500-2000 network
    layer_shares: tuple[float, ...] = ()  # each layer's share of the training budget (empty: equal shares)
    layer_lr_scales: tuple[float, ...] = ()  # each layer's factor on the scheduled lr (empty: 1 each)
    bound_samples: int = 10  # up-pass draws per image in the variational bound

    def __post_init__(self):
        super().__post_init__()
        positive("bound_samples", self.bound_samples)
        if not isinstance(self.hidden, (tuple, list)) or not self.hidden:
            raise ConfigError(f"dbn hidden must list the layer sizes bottom to top, e.g. [500, 2000]; got {self.hidden}")
        if self.layer_shares:
            if len(self.layer_shares) != len(self.hidden):
                raise ConfigError(f"layer_shares has {len(self.layer_shares)} entries for {len(self.hidden)} layers")
            if any(s <= 0 for s in self.layer_shares) or abs(sum(self.layer_shares) - 1) > 1e-6:
                raise ConfigError(f"layer_shares {list(self.layer_shares)} must be positive and sum to 1")
        if self.layer_lr_scales:
            if len(self.layer_lr_scales) != len(self.hidden):
                raise ConfigError(f"layer_lr_scales has {len(self.layer_lr_scales)} entries for {len(self.hidden)} "
                                  "layers")
            if any(not s > 0 for s in self.layer_lr_scales):
                raise ConfigError(f"layer_lr_scales {list(self.layer_lr_scales)} must be positive")


class DBN(GibbsSampled, GenerativeModel):
    """A stack of binary RBM layers (``layers``, bottom first) over images (C, H, W) flattened to D visibles."""

    Config = DBNConfig
    input_transform = "binary"
    manual_optimization = True
    default_train = {"optimizer": "sgd", "lr": 0.05, "betas": (0.9, 0.999), "batch_size": 100, "steps": 60_000}
    tiny = {"hidden": (8, 6), "chains": 10, "ais_steps": 50, "ais_runs": 8, "bound_samples": 2}
    sample_batch = 100
    log_prob_kind = "bound"

    def __init__(self, config: DBNConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.shape = image_shape("dbn", info)
        sizes = [math.prod(self.shape), *config.hidden]
        chains = config.chains if config.persistent else 0
        self.layers = nn.ModuleList(RBMLayer(sizes[i], sizes[i + 1], chains, config.init_std)
                                    for i in range(len(config.hidden)))

    @property
    def top(self) -> RBMLayer:
        return self.layers[-1]

    # --- training: one phase per layer -------------------------------------------------------
    def training_phases(self) -> list[tuple[str, float]]:
        n = len(self.layers)
        shares = self.config.layer_shares or (1 / n,) * n
        return [(f"layer{i + 1}", float(s)) for i, s in enumerate(shares)]

    def phase_lr_scale(self, phase: str) -> float:
        scales = self.config.layer_lr_scales
        return float(scales[int(phase.removeprefix("layer")) - 1]) if scales else 1.0

    @torch.no_grad()
    def up(self, v: torch.Tensor, depth: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Binary samples of the units above ``depth`` layers (B, H_depth) for visibles v (B, D), drawn layer by
        layer from Q(h_l | h_{l-1})."""
        for layer in self.layers[:depth]:
            v = bernoulli(layer.hidden_probs(v), generator)
        return v

    def training_step(self, batch: Batch, ctx) -> dict[str, torch.Tensor]:
        phase = getattr(ctx, "phase", None)
        i = int(phase.removeprefix("layer")) - 1 if phase else 0
        layer = self.layers[i]
        loss, logs = layer.cd_loss(self.up(batch.x.flatten(1), i), self.config.cd)
        ctx.backward(loss)
        ctx.step()
        return {"loss": loss.detach(), "layer": torch.tensor(float(i + 1)), **logs}

    # --- the variational bound ---------------------------------------------------------------
    def log_partition(self, generator: torch.Generator | None = None):
        """(log Z of the top RBM, its standard error, the AIS estimate or None)."""
        return self.top.log_partition(self.config.ais_steps, self.config.ais_runs, generator)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, samples: int | None = None, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """The variational lower bound on log p(x) (B,) in nats of binary images x (B, C, H, W), averaged over
        ``samples`` up-passes per image (the config's bound_samples by default)."""
        k = samples or self.config.bound_samples
        h = x.flatten(1).repeat(k, 1)  # (k B, D): k draws per image
        total = torch.zeros(len(h), dtype=torch.float64, device=h.device)
        for layer in self.layers[:-1]:
            q = layer.hidden_probs(h)
            entropy = F.binary_cross_entropy(q, q, reduction="none").sum(1)  # H(Q(h_l | h_{l-1})), closed form
            above = bernoulli(q, generator)
            a = above @ layer.w.T + layer.b  # logits of p(h_{l-1} | h_l)
            total += ((h * a - F.softplus(a)).sum(1) + entropy).double()
            h = above
        total += (-self.top.free_energy(h)).double() - self.log_partition()[0]
        return total.view(k, len(x)).mean(0).to(x.dtype)

    @property
    def likelihood_estimator(self) -> str:
        return f"variational bound ({self.config.bound_samples} up-passes), top log Z " + \
            ("exact" if self.top.exact else "by AIS")

    def likelihood_fields(self, nll: float) -> dict:
        return partition_fields(nll, *self.log_partition())

    @property
    def likelihood_note(self) -> str:
        bound = (f"variational lower bound on log p(x) (Salakhutdinov and Murray 2008): the up-pass as Q, "
                 f"{self.config.bound_samples} draws per image")
        if self.top.exact:
            return f"{bound}; log Z of the top RBM exact"
        log_z, se, est = self.log_partition()
        return (f"{bound}; log Z of the top RBM by AIS = {log_z:.3f} +- {se:.3f} (standard error, {est.runs} runs, "
                f"{est.steps} inverse temperatures from the base rates of its training input)")

    # --- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def down(self, h: torch.Tensor, mean: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        """From states h (B, H_{L-1}) of the top RBM's visible layer through the directed layers to images
        (B, C, H, W): binary draws on the way, the last layer's probabilities when ``mean``."""
        probs = h
        for layer in reversed(self.layers[:-1]):
            probs = layer.visible_mean(h)
            h = bernoulli(probs, generator)
        return (probs if mean else h).reshape(len(h), *self.shape)

    def chain_start(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """The top RBM's chains start (n, H_{L-1}) from the base rates of its training input."""
        return bernoulli(self.top.data_mean.float().to(self.device).expand(n, -1), generator)

    def chain_sweeps(self, h, sweeps, generator):
        return self.top.gibbs(h, sweeps, generator)

    def chain_images(self, h, visible_mean, use_mean, generator):
        """Each snapshot of the top chain passed down (the top RBM's own visibles for a one-layer DBN)."""
        if len(self.layers) > 1:
            return self.down(h, use_mean, generator)
        return (visible_mean if use_mean else h).reshape(len(h), *self.shape)


register_model("dbn", DBN, "deep belief network: RBMs stacked greedily, up-down sampling, variational bound with AIS")
