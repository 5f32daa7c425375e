"""The model interface every dgm model implements, and the capabilities metrics and the CLI ask for.

A model returns losses; the trainer owns optimisers, backward, clipping, precision, the NaN guard and
checkpoints. Capabilities are protocols discovered with ``isinstance`` (never by class or name).
"""
from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Protocol, runtime_checkable

import torch
from torch import nn

from ..data.dataset import DatasetInfo
from ..data.transforms import input_transforms
from ..errors import ConfigError


@dataclass
class Batch:
    """One training batch as the model wants it: x float (B, ...) after its input transform; y (B,) or None."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    step: int = 0  # the trainer's global step, for schedules (e.g. the beta-VAE capacity C)
    # semi-supervised models (``labels_per_class`` > 0): a batch (x, y) of the fixed labelled subset; their
    # main batches then come without labels (y None)
    labelled: tuple[torch.Tensor, torch.Tensor] | None = None
    shards: int = 1  # data-parallel processes sharing the step's global batch (this x is one of them)

    @property
    def images_seen(self) -> int:
        """Training examples seen over all processes before this batch (step x global batch): schedules by
        images (ProGAN's growth) use this, so they advance alike on any number of processes."""
        return self.step * len(self.x) * self.shards


@dataclass
class OptimizerGroup:
    """Parameters stepped by one optimiser plus overrides of the train config (lr, betas, optimizer...)."""

    params: list[nn.Parameter]
    settings: dict[str, Any] = field(default_factory=dict)
    # the optimizers this group works with (empty: any) and why, checked when the optimizers are built
    optimizers: tuple[str, ...] = ()
    why: str = ""


# How the registry's contract tests (tests/models/test_contract.py) exercise a model's tiny variant, unless its
# class's ``contract`` says otherwise: the shape of the images they train and sample it on (a pixel-by-pixel
# sampler declares a small one to keep the suite fast) and whether its sampling is still too slow for the
# default run (then those tests are marked slow), and the data it trains on: "images", "codes" (a prior over a
# tiny VQ-VAE's codes of those images) or "points" (2-D ring8 points: a model of real-valued vectors only).
CONTRACT_DEFAULTS: dict[str, Any] = {"image_shape": (1, 28, 28), "slow_sample": False, "data": "images"}


def contract_settings(cls: type) -> dict[str, Any]:
    """``CONTRACT_DEFAULTS`` updated with ``cls.contract``; ValueError naming any unknown key (a typo must not
    silently fall back to a default)."""
    unknown = sorted(set(cls.contract) - set(CONTRACT_DEFAULTS))
    if unknown:
        raise ValueError(f"{cls.__name__}.contract has unknown key(s) {unknown}; known: {sorted(CONTRACT_DEFAULTS)}")
    return {**CONTRACT_DEFAULTS, **cls.contract}


class GenerativeModel(nn.Module):
    """Base class: subclasses define ``loss`` (or ``training_step``) and ``sample``.

    Class attributes: ``Config`` (frozen dataclass), ``input_transform`` (a name in
    ``dgm.data.input_transforms``), ``default_train`` (the paper's training settings), ``tiny`` (config values
    for the contract tests), ``contract`` (how those tests exercise it: keys of ``CONTRACT_DEFAULTS``),
    ``manual_optimization`` (True: the trainer calls ``training_step``).
    ``sample`` declares its model-specific keyword options (``temperature``, ``truncation``, ``mean``...) in
    its signature; an unknown option is an error (``check_sample_options`` names it and the known ones).
    ``log_prob_kind`` says what ``log_prob`` returns (see ``LIKELIHOOD_KINDS``).
    """

    Config: ClassVar[type]
    input_transform: str = "unit"
    default_train: ClassVar[dict[str, Any]] = {}
    manual_optimization: ClassVar[bool] = False
    tiny: ClassVar[dict[str, Any]] = {}  # config values of a tiny variant, used by the registry contract tests
    contract: ClassVar[dict[str, Any]] = {}  # how the contract tests exercise the tiny variant (CONTRACT_DEFAULTS)
    log_prob_kind: ClassVar[str] = "exact"  # what log_prob is, when the model has one: a LIKELIHOOD_KINDS key
    # periodic validation's metric: "auto" (its likelihood where it has one, else FID of samples), "samples"
    # (FID, for models whose likelihood is too costly to evaluate during training: a diffusion's full bound) or
    # "reconstruction" (MSE of ``reconstruct``: an autoencoder whose samples wait for a separate prior) or
    # "classification" (error of ``classify`` on the validation labels: a semi-supervised classifier)
    validate_by: ClassVar[str] = "auto"
    # elbo costs many network passes per example (a diffusion's T): `dgm eval`'s auto metrics leave it out
    costly_bound: ClassVar[bool] = False
    importance_weighted: ClassVar[bool] = True  # elbo(x, k) has a k-sample (IWAE) form where it has elbo at all
    # images per model.sample call when drawing many (sample_images: dgm sample / eval, validation FID)
    sample_batch: ClassVar[int] = 500

    def __init__(self, config: Any, info: DatasetInfo):
        super().__init__()
        self.config = config
        self.info = info

    # --- data -------------------------------------------------------------------------------
    def prepare(self, x: torch.Tensor, generator: torch.Generator | None = None, train: bool = True) -> torch.Tensor:
        """Stored samples (uint8 images or float points) -> the float tensor this model consumes. Data stored
        binary (``info.kind == "binary"``) is used as it is by the binarising transform and read as 0/255 by the
        others, so each maps it to the ends of its range (unit {0, 1}, symmetric {-1, 1})."""
        if self.info.kind == "binary" and not x.is_floating_point():
            if self.input_transform == "binary":
                return x.float()
            x = x * 255
        return input_transforms.get(self.input_transform)(x, generator, train)

    # --- training ---------------------------------------------------------------------------
    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        """Losses for ``group``: key ``"loss"`` is minimised, the other scalar entries are logged."""
        raise NotImplementedError

    def training_step(self, batch: Batch, ctx: "TrainingContext") -> dict[str, torch.Tensor]:
        """Manual path (contrastive divergence, EM, unrolled GANs): call ctx.backward / ctx.step yourself."""
        raise NotImplementedError

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        """Name -> parameters (and setting overrides) of each optimiser; one group by default."""
        return {"main": OptimizerGroup([p for p in self.parameters() if p.requires_grad])}

    def training_phases(self) -> list[tuple[str, float]]:
        """Consecutive phases of training as (name, share of the budget) with shares summing to 1 (e.g. a deep
        belief network's layers, trained one after the other): each phase gets its share of the steps or of the
        time budget, the lr schedule restarts in each, and the manual path's ``ctx.phase`` names the current
        one. None by default: one schedule over the whole run."""
        return []

    def phase_lr_scale(self, phase: str) -> float:
        """The factor on the scheduled lr in training phase ``phase`` (e.g. a smaller lr for a DBN's wide top
        RBM, whose sharper model AIS could not estimate at the bottom layer's lr). 1 by default."""
        return 1.0

    def update_schedule(self, step: int) -> list[str]:
        """Groups that step at this global step, in order (e.g. n_critic D steps per G step)."""
        return ["main"]

    def after_optimizer_step(self, group: str) -> None:
        """Called by the trainer right after ``group``'s optimizer step (e.g. WGAN's weight clipping, which the
        paper applies to the updated critic before anything uses it again)."""

    # --- generation -------------------------------------------------------------------------
    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """n samples: images float (n, C, H, W) in [0, 1], or points (n, D). Subclasses add their options as
        keyword-only parameters. Noise is drawn on the CPU from ``generator`` and moved to the model's device,
        so a seed gives the same samples on every device."""
        raise NotImplementedError

    def sample_semantics(self, options: dict[str, Any]) -> str:
        """What ``sample(**options)`` returns: "draws" from the model, or "decoder means" (VAE/AE grids, as
        their papers show them); recorded with every sample-quality figure."""
        return "draws"

    @property
    def device(self) -> torch.device:
        """Where the model's weights (or buffers) live; CPU for a model without any."""
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def extra_checkpoint_state(self) -> dict[str, Any]:
        """JSON-able state beyond weights and buffers (counters, schedules, restart bookkeeping): saved in every
        checkpoint's train state and given back to ``load_extra_checkpoint_state`` on resume."""
        return {}

    def load_extra_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_checkpoint_state`` returned (called on resume, after the weights)."""
        if state:
            raise NotImplementedError(f"{type(self).__name__} saved extra checkpoint state {sorted(state)} but does "
                                      "not define load_extra_checkpoint_state")


def class_marginal(log_prob, x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """log p(x) = logsumexp_c log p(x | c) - log K under a uniform prior over K classes; ``log_prob(x, labels)``
    gives log p(x | c) (B,), one call per class -> (B,)."""
    per_class = [log_prob(x, torch.full((len(x),), c, dtype=torch.long)) for c in range(num_classes)]
    return torch.logsumexp(torch.stack(per_class), 0) - math.log(num_classes)


def sample_options(model: GenerativeModel) -> list[str]:
    """The keyword options ``model.sample`` takes beyond n, labels and generator."""
    params = inspect.signature(type(model).sample).parameters.values()
    return [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.name not in ("labels", "generator")]


def check_sample_options(model: GenerativeModel, options: dict[str, Any]) -> None:
    """Raise ConfigError for an option ``model.sample`` does not take (a typo like ``temprature`` must not be
    ignored), naming the closest known option and all of them."""
    known = sample_options(model)
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{type(model).__name__} sampling has no option {name!r}; {hint}it takes: "
                              f"{', '.join(known) or 'none'}")


# What a likelihood number is (every evaluation record names it):
LIKELIHOOD_KINDS = {
    "exact": "log P(x) of the discrete data, computed exactly",
    "bound": "a lower bound on log P(x) evaluated with sampled noise (its mean over the data is a stochastic "
             "estimate of the bound: ELBO, IWAE-k, a flow's one-sample dequantisation bound)",
    "estimate": "a stochastic estimate of log P(x) with a standard error (e.g. annealed importance sampling)",
}


class TrainingContext(Protocol):
    """What the trainer lends a model that optimises by hand (``dgm.train.trainer.ManualContext``)."""

    phase: str | None  # the model's current training phase (``training_phases``), None without phases

    def backward(self, loss: torch.Tensor, group: str = "main") -> None: ...
    def step(self, group: str = "main") -> bool: ...
    def zero_grad(self, group: str = "main") -> None: ...
    def optimizer(self, group: str = "main") -> torch.optim.Optimizer: ...


@runtime_checkable
class HasLogProb(Protocol):
    """Log-likelihood of the discrete data: ``log_prob(x) -> (B,)`` in nats; exact, or the bound or estimate
    the model's ``log_prob_kind`` names (flows on dequantised data: a one-sample lower bound)."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ShowsTrajectory(Protocol):
    """Samples through steps (a diffusion's x_t, an RBM's Gibbs chain): ``trajectory(n, frames, ...) ->
    ((frames, n, C, H, W), steps)`` shows them (`dgm sample --trajectory`)."""

    def trajectory(self, n: int, frames: int = 8, **options) -> tuple[torch.Tensor, list[int]]: ...


@runtime_checkable
class StepwiseSampler(Protocol):
    """Samples through steps of x_t (diffusion): ``trajectory(n, frames, ...) -> ((frames, n, C, H, W), times)``
    shows them, and a noise-aware classifier can guide them (classifier guidance) through the guided
    ``predict(x_t, t)`` of ``guided``."""

    def trajectory(self, n: int, frames: int = 8, **options) -> tuple[torch.Tensor, list[int]]: ...
    def guided(self, labels: torch.Tensor | None, guidance: float, variance: bool) -> Any: ...


@runtime_checkable
class HasKL(Protocol):
    """Models with an approximate posterior and a prior: ``kl(x, generator=None) -> (B,)``, KL(q(z|x) || p(z)) in
    nats (closed form where it has one, else a one-sample estimate); scored by `dgm eval --metrics kl`, the
    measure of how much the latents carry (0: posterior collapse)."""

    def kl(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


@runtime_checkable
class HasELBO(Protocol):
    """A lower bound on log p(x) of the discrete data: ``elbo(x, k=1) -> (B,)`` in nats (k>1: IWAE bound, unless
    the model's ``importance_weighted`` is False: a diffusion's bound takes only k=1)."""

    def elbo(self, x: torch.Tensor, k: int = 1) -> torch.Tensor: ...


@runtime_checkable
class LatentModel(Protocol):
    """Models with an encoder and a decoder: ``encode(x) -> (B, L)`` and ``decode(z) -> images``."""

    latent_dim: int

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...
    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Reconstructs(Protocol):
    """Models that rebuild their input through a bottleneck: ``reconstruct(x) -> (B, C, H, W)`` in [0, 1] for x
    as ``prepare`` gives it (the decoder's mean of the encoded x); scored by `dgm eval --metrics recon`."""

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Classifies(Protocol):
    """Models that name the class of their input: ``classify(x) -> (B, K)`` logits for x as ``prepare`` gives
    it (the semi-supervised AAE); scored by `dgm eval --metrics accuracy` on the test split."""

    def classify(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class DiscreteCodes(Protocol):
    """Models whose codes are indices into a codebook of ``num_codes`` entries (VQ-VAE): ``encode(x) -> (B, h, w)``
    long (a tuple of such maps, top first, for several levels: VQ-VAE-2), ``decode(codes) -> images`` in [0, 1]."""

    num_codes: int

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...
    def decode(self, indices: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LatentGenerator(Protocol):
    """Models that map drawn latent inputs to samples (GANs): ``draw(n, labels=, generator=, **options)``
    returns a latents record with a ``z`` field (B, L) (plus labels or codes), ``render(latents)`` the samples
    as ``sample`` returns them (images in [0, 1] or points)."""

    def draw(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
             **options: Any) -> Any: ...
    def render(self, latents: Any) -> torch.Tensor: ...


def trainable(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]
