"""Adversarial latent autoencoder (Pidhorskyi et al. 2020): a mapping F: z -> w, a generator G: w -> x, an encoder
E: x -> w and a discriminator D on w, so the critic of an image is D(E(x)). G and E are the MLPs of the paper's
MNIST experiment (``arch: mlp``) or a small StyleALAE (``arch: style``, `alae-style`): a style-based generator
taking w by AdaIN at every level and the encoder that sums every level's instance-norm statistics into w
(nn.style). Three phases a step, as optimizer groups (the paper's Algorithm 1):

- discriminator (E and D): softplus(D(E(G(F(z))))) + softplus(-D(E(x))) + gamma/2 ||grad_x D(E(x))||^2 (R1);
- generator (F and G): softplus(-D(E(G(F(z)))));
- latent (E and G): ||w - E(G(w))||^2 with w = F(z) held fixed: the reconstruction is in the latent space W.

Images are modelled in [-1, 1] (G ends in tanh); ``encode`` gives w, ``decode`` G(w) in [0, 1]."""
from __future__ import annotations

from dataclasses import dataclass

import math

import torch
from torch import nn

from ..config import positive
from ..data.dataset import DatasetInfo
from ..errors import ConfigError
from ..nn import MLP
from ..nn.style import StyleEncoder, StyleGenerator
from .base import Batch, GenerativeModel, OptimizerGroup
from .gan.objectives import objectives
from .gan.penalties import zero_centred_penalty
from .registry import register_model


NON_SATURATING = objectives.get("non-saturating")  # the paper's softplus losses
ARCHS = ("mlp", "style")


@dataclass(frozen=True)
class ALAEConfig:
    """Sizes of z and w, the widths of F, G, E and D (leaky ReLU 0.2), and the R1 weight gamma. ``arch``: mlp (G and
    E of ``hidden`` widths) or style (G and E style-based, ``channels`` wide from G's base resolution up)."""

    latent_dim: int = 50  # z
    w_dim: int = 50
    mapping_hidden: tuple[int, ...] = (1024, 1024)
    arch: str = "mlp"
    hidden: tuple[int, ...] = (1024, 1024)  # mlp: G, and E mirrored
    channels: tuple[int, ...] = (128, 64, 32)  # style: 7x7, 14x14, 28x28 for MNIST
    disc_hidden: tuple[int, ...] = (1024,)
    r1_gamma: float = 10.0
    equalized_lr: bool = True  # the paper's layers: its lr of 0.002 assumes them (plain layers diverge at it)
    lr_d: float = 2e-3  # the paper's Adam (beta1 0, beta2 0.99) at 0.002
    lr_g: float = 2e-3

    def __post_init__(self):
        for name in ("latent_dim", "w_dim", "lr_d", "lr_g"):
            positive(name, getattr(self, name))
        positive("r1_gamma", self.r1_gamma, allow_zero=True)
        if self.arch not in ARCHS:
            raise ConfigError(f"model.arch {self.arch!r}: choose {' or '.join(ARCHS)}")
        if self.arch == "style" and not self.channels:
            raise ConfigError("model.channels: the style-based nets need at least one level")
        for h in self.mapping_hidden + self.hidden + self.disc_hidden + self.channels:
            positive("layer width", h)


class ALAE(GenerativeModel):
    """Groups: discriminator (E, D), generator (F, G), latent (E, G)."""

    Config = ALAEConfig
    default_train = {"lr": 2e-3, "batch_size": 128, "steps": 20_000, "betas": (0.0, 0.99)}
    tiny = {"latent_dim": 4, "w_dim": 4, "mapping_hidden": (8,), "hidden": (16,), "disc_hidden": (8,),
            "channels": (8, 4)}
    input_transform = "symmetric"

    def __init__(self, config: ALAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.latent_dim, self.shape = config.w_dim, tuple(info.shape)
        d = math.prod(info.shape)
        eq = config.equalized_lr
        self.mapping = MLP(config.latent_dim, config.mapping_hidden, config.w_dim, "leaky_relu", eq)
        if config.arch == "style":
            if len(self.shape) != 3:
                raise ConfigError(f"alae arch style needs images (C, H, W), got data of shape {self.shape}; use "
                                  "arch mlp")
            try:
                self.generator = StyleGenerator(config.w_dim, self.shape, config.channels, eq)
                self.encoder = StyleEncoder(self.shape, config.channels, config.w_dim, eq)
            except ValueError as e:
                raise ConfigError(f"alae arch style: {e}; change model.channels") from None
        else:
            self.generator = nn.Sequential(MLP(config.w_dim, config.hidden, d, "leaky_relu", eq), nn.Tanh())
            self.encoder = nn.Sequential(nn.Flatten(), MLP(d, tuple(reversed(config.hidden)), config.w_dim,
                                                           "leaky_relu", eq))
        self.critic = MLP(config.w_dim, config.disc_hidden, 1, "leaky_relu", eq)

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        e, g = list(self.encoder.parameters()), list(self.generator.parameters())
        return {"discriminator": OptimizerGroup(e + list(self.critic.parameters()), {"lr": self.config.lr_d}),
                "generator": OptimizerGroup(list(self.mapping.parameters()) + g, {"lr": self.config.lr_g}),
                "latent": OptimizerGroup(e + g, {"lr": self.config.lr_g})}

    def update_schedule(self, step: int) -> list[str]:
        return ["discriminator", "generator", "latent"]

    def image_critic(self, x: torch.Tensor) -> torch.Tensor:
        """D(E(x)): logits (B,) that images (B, *shape) in [-1, 1] are real."""
        return self.critic(self.encoder(x)).squeeze(-1)

    def _generate(self, w: torch.Tensor) -> torch.Tensor:
        return self.generator(w).view(len(w), *self.shape)

    def _z(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=like.device, dtype=like.dtype)

    def loss(self, batch: Batch, group: str = "discriminator") -> dict[str, torch.Tensor]:
        x = batch.x
        if group == "discriminator":
            with torch.no_grad():
                fake = self._generate(self.mapping(self._z(len(x), x)))
            adv = NON_SATURATING.d_loss(self.image_critic(x), self.image_critic(fake))
            r1 = zero_centred_penalty(self.image_critic, x) if self.config.r1_gamma > 0 else \
                torch.zeros((), device=x.device)
            return {"loss": adv + 0.5 * self.config.r1_gamma * r1, "adversarial": adv.detach(), "r1": r1.detach()}
        w = self.mapping(self._z(len(x), x))
        if group == "generator":
            return {"loss": NON_SATURATING.g_loss(self.image_critic(self._generate(w)))}
        w = w.detach()  # the latent phase trains E and G to invert each other on F's w
        err = (w - self.encoder(self._generate(w))).pow(2).sum(1).mean()
        return {"loss": err, "latent_error": err.detach()}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) in [-1, 1] (as ``prepare`` gives it) -> w (B, w_dim)."""
        return self.encoder(x)

    def decode(self, w: torch.Tensor) -> torch.Tensor:
        """w: (B, w_dim) -> images (B, *shape) in [0, 1]."""
        return (self._generate(w) + 1) / 2

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None):
        """G(F(z)) for z ~ N(0, I): (n, *shape) in [0, 1]."""
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        return self.decode(self.mapping(z))


register_model("alae", ALAE, "adversarial latent autoencoder (Pidhorskyi et al. 2020), the MLP version for MNIST")
register_model("alae-style", ALAE, "StyleALAE, small: style-based generator (AdaIN) and statistics encoder, 3 levels",
               preset={"arch": "style"})
