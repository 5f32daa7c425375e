"""The adversarial model's configuration: every GAN variant is a set of these values (see presets.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...config import positive
from ...errors import ConfigError
from .objectives import get_objective


@dataclass(frozen=True)
class GANConfig:
    """Networks + objective + penalties + regularisers + tricks + schedule of one adversarial model."""

    # networks (2-D points always use the MLP; "auto" is DCGAN for images)
    architecture: Literal["auto", "mlp", "dcgan", "resnet"] = "auto"
    latent_dim: int = 100  # noise z; InfoGAN codes come on top
    mlp_hidden: tuple[int, ...] = (256, 256)
    mlp_hidden_d: tuple[int, ...] | None = None  # D's MLP widths when they differ from G's (None: mlp_hidden)
    channels: int = 64  # conv width: DCGAN's G last / D first stage (doubling per stage); ResNet's width
    fc_hidden: int = 0  # DCGAN nets: fully connected layer after G's input and before D's heads (InfoGAN: 1024)
    d_norm: Literal["batch", "layer", "none"] = "batch"  # normalisation inside D (G always uses batch norm)
    attention: bool = False  # self-attention after the first G up-stage and the first D stage (SAGAN)
    spectral_norm: Literal["none", "discriminator", "both"] = "none"
    init: Literal["default", "normal", "orthogonal", "xavier"] = "normal"
    # conditioning on class labels
    g_conditioning: Literal["none", "concat", "cbn"] = "none"
    d_conditioning: Literal["none", "concat", "projection", "auxiliary"] = "none"
    aux_weight: float = 1.0  # AC-GAN class loss weight
    # InfoGAN codes
    info_categorical: int = 0  # categories of the discrete code (0: none)
    info_continuous: int = 0  # continuous codes, U(-1, 1)
    info_weight: float = 1.0  # lambda of the categorical mutual-information term
    info_continuous_weight: float = 0.1  # lambda of the continuous codes' term
    # objective and schedule
    objective: Literal["minimax", "non-saturating", "least-squares", "wasserstein", "hinge"] = "non-saturating"
    n_critic: int = 1  # discriminator steps (batches) per generator step
    lr_d: float | None = None  # per-player learning rates (TTUR); None: train.lr
    lr_g: float | None = None
    # penalties on D
    clip: float | None = None  # WGAN weight clipping
    gp_weight: float = 0.0  # WGAN-GP lambda
    r1_weight: float = 0.0  # gamma of R1 (real data); the loss adds gamma / 2 * E ||grad D||^2
    r2_weight: float = 0.0  # gamma of R2 (generated data)
    r_every: int = 1  # lazy R1/R2: apply every k steps, scaled by k
    # regularisers
    ortho_weight: float = 0.0  # BigGAN orthogonal regularisation of G (beta)
    hist_weight: float = 0.0  # historical averaging, both players
    feature_matching: float = 0.0  # weight of feature matching added to G's loss
    # tricks
    label_smoothing: float = 0.0  # one-sided: real target 1 - s
    instance_noise: float = 0.0  # std of noise on D's inputs at step 0, annealed to 0
    instance_noise_steps: int = 10_000
    minibatch_std: bool = False
    minibatch_kernels: int = 0  # minibatch discrimination kernels (0: off)
    # unrolled GAN (Metz et al. 2017): > 0 unrolls D this many steps for each G update
    unroll_steps: int = 0
    unroll_optimizer: Literal["sgd", "adam"] = "sgd"  # adam: D's own Adam steps from its optimizer state (paper)
    unroll_lr: float = 1e-2  # the SGD surrogate's step size (adam uses D's learning rate)
    unroll_second_order: bool = True  # backpropagate through the unrolled updates

    def __post_init__(self):
        for name in ("latent_dim", "channels", "n_critic", "r_every", "instance_noise_steps"):
            positive(name, getattr(self, name))
        for name in ("aux_weight", "info_weight", "info_continuous_weight", "gp_weight", "r1_weight", "r2_weight",
                     "ortho_weight", "hist_weight", "feature_matching", "instance_noise", "unroll_lr"):
            positive(name, getattr(self, name), allow_zero=True)
        for name in ("info_categorical", "info_continuous", "minibatch_kernels", "unroll_steps", "fc_hidden"):
            positive(name, getattr(self, name), allow_zero=True)
        for h in self.mlp_hidden:
            positive("mlp_hidden width", h)
        for h in self.mlp_hidden_d or ():
            positive("mlp_hidden_d width", h)
        positive("clip", self.clip)
        positive("lr_d", self.lr_d)
        positive("lr_g", self.lr_g)
        if self.info_categorical == 1:
            raise ConfigError("info_categorical needs at least 2 categories (or 0 for none)")
        if (self.g_conditioning == "none") != (self.d_conditioning == "none"):
            raise ConfigError("conditioning must be on both players or neither: got g_conditioning "
                              f"{self.g_conditioning!r} and d_conditioning {self.d_conditioning!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and not get_objective(self.objective).labelled:
            raise ConfigError(f"label_smoothing has no meaning for the {self.objective} objective (no labels)")

    @property
    def conditional(self) -> bool:
        return self.g_conditioning != "none" or self.d_conditioning != "none"
