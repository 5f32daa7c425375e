"""The adversarial model's configuration: every GAN variant is a set of these values (see presets.py).

Sections: ``networks``, ``conditioning``, ``codes`` (InfoGAN), ``schedule`` (update schedule, per-player rates,
unrolling), and the registered parts of ``penalties``, ``regularisers`` and ``tricks`` (parts.py), beside the
noise size ``latent_dim`` and the ``objective``'s name. For example (WGAN-GP with lazy R1 instead of GP):

    model:
      objective: wasserstein
      schedule: {n_critic: 5}
      penalties: {r1: {weight: 10, every: 16}}

The flat names of the first versions (``gp_weight: 10``, ``n_critic: 5``, ...) still load, from YAML, ``--set``
and checkpoints: ``FLAT_NAMES`` maps each to its place (docs/gan.md lists them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ...config import positive
from ...errors import ConfigError
from . import penalties as _penalties, regularisers as _regularisers, tricks as _tricks  # noqa: F401  (register)
from .objectives import get_objective
from .parts import normalise, part, secondary


@dataclass(frozen=True)
class Networks:
    """G's and D's architecture (2-D points always use the MLP; "auto" is DCGAN for images)."""

    architecture: Literal["auto", "mlp", "dcgan", "resnet", "stylegan", "stylegan2", "progan"] = "auto"
    mlp_hidden: tuple[int, ...] = (256, 256)
    mlp_hidden_d: tuple[int, ...] | None = None  # D's MLP widths when they differ from G's (None: mlp_hidden)
    channels: int = 64  # conv width: DCGAN's G last / D first stage (doubling per stage); ResNet's width
    fc_hidden: int = 0  # DCGAN nets: fully connected layer after G's input and before D's heads (InfoGAN: 1024)
    d_norm: Literal["batch", "layer", "none"] = "batch"  # normalisation inside D (G always uses batch norm)
    attention: bool = False  # self-attention after the first G up-stage and the first D stage (SAGAN)
    spectral_norm: Literal["none", "discriminator", "both"] = "none"
    init: Literal["default", "normal", "orthogonal", "xavier"] = "normal"
    mapping_layers: int = 8  # style-based generators (stylegan2): layers of the mapping network z -> w
    style_mixing: float = 0.9  # style-based generators: probability of style mixing regularisation per batch
    g_norm: Literal["batch", "virtual"] = "batch"  # DCGAN's G: batch norm, or virtual batch norm (Salimans et al.)

    def __post_init__(self):
        positive("networks.channels", self.channels)
        positive("networks.mapping_layers", self.mapping_layers)
        if not 0.0 <= self.style_mixing <= 1.0:
            raise ConfigError(f"networks.style_mixing is a probability in [0, 1], got {self.style_mixing}")
        positive("networks.fc_hidden", self.fc_hidden, allow_zero=True)
        for h in self.mlp_hidden:
            positive("networks.mlp_hidden width", h)
        for h in self.mlp_hidden_d or ():
            positive("networks.mlp_hidden_d width", h)


@dataclass(frozen=True)
class Conditioning:
    """Class conditioning of G and D (both or neither) and AC-GAN's class-loss weight."""

    generator: Literal["none", "concat", "cbn"] = "none"
    discriminator: Literal["none", "concat", "projection", "auxiliary"] = "none"
    aux_weight: float = 1.0

    def __post_init__(self):
        positive("conditioning.aux_weight", self.aux_weight, allow_zero=True)
        if (self.generator == "none") != (self.discriminator == "none"):
            raise ConfigError("conditioning must be on both players or neither: got conditioning.generator "
                              f"{self.generator!r} and conditioning.discriminator {self.discriminator!r}")


@dataclass(frozen=True)
class Codes:
    """InfoGAN's latent codes: a categorical one of ``categorical`` values (0: none) and ``continuous`` U(-1, 1)
    codes, with the weights (lambda) of their mutual-information terms."""

    categorical: int = 0
    continuous: int = 0
    weight: float = 1.0
    continuous_weight: float = 0.1

    def __post_init__(self):
        for name in ("categorical", "continuous", "weight", "continuous_weight"):
            positive(f"codes.{name}", getattr(self, name), allow_zero=True)
        if self.categorical == 1:
            raise ConfigError("codes.categorical needs at least 2 categories (or 0 for none)")


@dataclass(frozen=True)
class Schedule:
    """Who updates when: D steps per G step, per-player learning rates (TTUR; None: train.lr), and the unrolled
    GAN (Metz et al. 2017): > 0 unrolls D this many steps for each G update."""

    n_critic: int = 1
    lr_d: float | None = None
    lr_g: float | None = None
    unroll_steps: int = 0
    unroll_optimizer: Literal["sgd", "adam"] = "sgd"  # adam: D's own Adam steps from its optimizer state (paper)
    unroll_lr: float = 1e-2  # the SGD surrogate's step size (adam uses D's learning rate)
    unroll_second_order: bool = True  # backpropagate through the unrolled updates
    grow_images: int = 0  # progressive growing (progan): images per fade-in and per stabilising phase (0: none)

    def __post_init__(self):
        positive("schedule.n_critic", self.n_critic)
        positive("schedule.grow_images", self.grow_images, allow_zero=True)
        positive("schedule.lr_d", self.lr_d)
        positive("schedule.lr_g", self.lr_g)
        positive("schedule.unroll_steps", self.unroll_steps, allow_zero=True)
        positive("schedule.unroll_lr", self.unroll_lr, allow_zero=True)


def _moved(section: str, *names: str, rename: dict[str, str] | None = None) -> dict[str, str]:
    return {n: f"{section}.{(rename or {}).get(n, n)}" for n in names}


# the first versions' flat config names -> their places (a dotted path, or a function value -> nested values)
FLAT_NAMES: dict[str, Any] = {
    **_moved("networks", "architecture", "mlp_hidden", "mlp_hidden_d", "channels", "fc_hidden", "d_norm",
             "attention", "spectral_norm", "init"),
    "g_conditioning": "conditioning.generator", "d_conditioning": "conditioning.discriminator",
    "aux_weight": "conditioning.aux_weight",
    "info_categorical": "codes.categorical", "info_continuous": "codes.continuous", "info_weight": "codes.weight",
    "info_continuous_weight": "codes.continuous_weight",
    **_moved("schedule", "n_critic", "lr_d", "lr_g", "unroll_steps", "unroll_optimizer", "unroll_lr",
             "unroll_second_order"),
    "clip": part("penalties", "clip", "bound", off=None),
    "gp_weight": part("penalties", "gp", "weight"), "r1_weight": part("penalties", "r1", "weight"),
    "r2_weight": part("penalties", "r2", "weight"), "r_every": secondary("penalties", ("r1", "r2"), "every"),
    "ortho_weight": part("regularisers", "ortho", "weight"), "hist_weight": part("regularisers", "hist", "weight"),
    "feature_matching": part("regularisers", "feature_matching", "weight"),
    "label_smoothing": part("tricks", "label_smoothing", "amount"),
    "instance_noise": part("tricks", "instance_noise", "std"),
    "instance_noise_steps": secondary("tricks", ("instance_noise",), "anneal_steps"),
    "minibatch_std": part("tricks", "minibatch_std", None, off=False),
    "minibatch_kernels": part("tricks", "minibatch_discrimination", "kernels"),
}


@dataclass(frozen=True)
class GANConfig:
    """Noise size + objective + networks + conditioning + codes + schedule + penalties, regularisers and tricks
    (each ``{part name: its settings}``, see parts.py) of one adversarial model."""

    flat_names = FLAT_NAMES  # (a class attribute, not a field)

    latent_dim: int = 100  # noise z; InfoGAN codes come on top
    objective: Literal["minimax", "non-saturating", "least-squares", "wasserstein", "hinge"] = "non-saturating"
    networks: Networks = field(default_factory=Networks)
    conditioning: Conditioning = field(default_factory=Conditioning)
    codes: Codes = field(default_factory=Codes)
    schedule: Schedule = field(default_factory=Schedule)
    penalties: dict[str, Any] = field(default_factory=dict)
    regularisers: dict[str, Any] = field(default_factory=dict)
    tricks: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        positive("latent_dim", self.latent_dim)
        for section in ("penalties", "regularisers", "tricks"):
            object.__setattr__(self, section, normalise(section, getattr(self, section)))
        if "label_smoothing" in self.tricks and not get_objective(self.objective).labelled:
            raise ConfigError(f"label smoothing has no meaning for the {self.objective} objective (no labels)")

    @property
    def conditional(self) -> bool:
        return self.conditioning.generator != "none" or self.conditioning.discriminator != "none"
