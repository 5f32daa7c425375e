"""Adversarial autoencoder (Makhzani et al. 2016): a deterministic autoencoder whose aggregate posterior q(z) is
matched to a prior p(z) by a discriminator on codes. Each step has a reconstruction phase (encoder and decoder
on the likelihood head) and a regularisation phase (the discriminator tells prior samples from codes, then the
encoder, as a generator, learns to fool it). Priors: Gaussian, a mixture of 10 2-D Gaussians or a 2-D swiss
roll (``models/latent_priors.py``), the last two optionally label-conditioned: the discriminator then sees a
one-hot label beside each code, and prior samples come from that label's region."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..config import positive
from ..data.dataset import DatasetInfo
from ..errors import ConfigError
from ..nn import MLP
from .autoencoding import DecodesThroughHead, EncoderDecoder, EncoderDecoderConfig
from .base import Batch, GenerativeModel, OptimizerGroup
from .gan.objectives import objectives
from .latent_priors import high_density_share, make_prior
from .registry import register_model


# the discriminator on codes and the encoder against it: the GAN package's -log D(x) - log(1 - D(G(z))) and -log D(G(z))
NON_SATURATING = objectives.get("non-saturating")


@dataclass(frozen=True)
class AAEConfig(EncoderDecoderConfig):
    """The paper's MNIST nets: 2 x 1000 ReLU encoder/decoder and discriminator; Adam for every phase."""

    latent_dim: int = 8
    hidden: tuple[int, ...] = (1000, 1000)
    activation: Literal["relu", "tanh", "elu", "softplus", "leaky_relu", "silu"] = "relu"
    prior: Literal["gaussian", "mixture", "swissroll"] = "gaussian"
    prior_labels: bool = False  # label-conditioned prior: class k's codes go to region k (mixture, swissroll)
    prior_components: int = 10
    disc_hidden: tuple[int, ...] = (1000, 1000)
    lr_d: float = 1e-4  # discriminator; the generator (encoder) phase uses lr_g, reconstruction the train lr
    lr_g: float = 1e-4

    def __post_init__(self):
        super().__post_init__()
        positive("prior_components", self.prior_components)
        positive("lr_d", self.lr_d)
        positive("lr_g", self.lr_g)
        for h in self.disc_hidden:
            positive("disc_hidden width", h)


class AdversarialAutoencoder(DecodesThroughHead, GenerativeModel):
    """Groups: "autoencoder" (reconstruction), "discriminator" (codes vs prior), "generator" (the encoder)."""

    Config = AAEConfig
    default_train = {"lr": 1e-3, "batch_size": 100, "steps": 10_000}
    tiny = {"hidden": (16,), "latent_dim": 2, "conv_channels": (4, 8), "disc_hidden": (8,)}

    def __init__(self, config: AAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.latent_dim = config.latent_dim
        self.prior = make_prior(config.prior, config.latent_dim, config.prior_components)
        if config.prior_labels:
            if not self.prior.regions:
                raise ConfigError("prior_labels needs a prior with label regions: prior=mixture or swissroll")
            if info.num_classes != config.prior_components:
                raise ConfigError(f"prior_labels: {info.name} has {info.num_classes} classes, the prior "
                                  f"{config.prior_components} regions; set model.prior_components="
                                  f"{info.num_classes}" if info.num_classes else
                                  f"prior_labels needs labelled data; {info.name} has none")
            self.num_classes = config.prior_components
        self.net = EncoderDecoder(config, info.shape, info.kind, config.latent_dim)
        self.head = self.net.head
        self.input_transform = self.head.input_transform
        extra = config.prior_components if config.prior_labels else 0
        self.code_discriminator = MLP(config.latent_dim + extra, config.disc_hidden, 1, "relu")

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        return {"autoencoder": OptimizerGroup(list(self.net.parameters())),
                "discriminator": OptimizerGroup(list(self.code_discriminator.parameters()), {"lr": self.config.lr_d}),
                "generator": OptimizerGroup(list(self.net.encoder.parameters()), {"lr": self.config.lr_g})}

    def update_schedule(self, step: int) -> list[str]:
        return ["autoencoder", "discriminator", "generator"]

    def _critic(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Logits (B,) of 'drawn from the prior' for codes z (B, L), with one-hot labels when label-conditioned."""
        if self.config.prior_labels:
            if labels is None:
                raise ConfigError("a label-conditioned prior needs the batch's labels")
            z = torch.cat([z, F.one_hot(labels, self.config.prior_components).to(z.dtype)], 1)
        return self.code_discriminator(z).squeeze(-1)

    def generator_loss(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The regularisation phase's loss on the encoder's codes: -log D(z) (non-saturating)."""
        return NON_SATURATING.g_loss(self._critic(z, labels))

    def loss(self, batch: Batch, group: str = "autoencoder") -> dict[str, torch.Tensor]:
        x, y = batch.x, batch.y if self.config.prior_labels else None
        if group == "autoencoder":
            rec = self.head.log_prob(self.net.decoder(self.net.encoder(x)), x)
            return {"loss": -rec.mean(), "recon": -rec.mean().detach()}
        if group == "discriminator":
            with torch.no_grad():
                codes = self.net.encoder(x)
            prior = self.prior.sample(len(x), None if y is None else y.cpu()).to(codes)
            real, fake = self._critic(prior, y), self._critic(codes, y)
            loss = NON_SATURATING.d_loss(real, fake)
            accuracy = 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())
            return {"loss": loss, "accuracy": accuracy.detach()}
        loss = self.generator_loss(self.net.encoder(x), y)
        return {"loss": loss}

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, mean: bool = True):
        """Decode codes drawn from the prior (from label k's region when the prior is label-conditioned and labels
        are given; otherwise labels are ignored, as by other unconditional models): decoder means (``mean``) or
        draws; (n, C, H, W) in [0, 1]."""
        labels = labels.cpu() if labels is not None and self.config.prior_labels else None
        z = self.prior.sample(n, labels, generator).to(self.device)
        return self.decode_samples(z, mean, generator)


    def prior_share(self, codes: torch.Tensor, mass: float = 0.95) -> float:
        """The share of codes (N, L) inside the prior's ``mass`` highest-density region."""
        return high_density_share(self.prior, codes.cpu(), mass)


register_model("aae", AdversarialAutoencoder, "adversarial autoencoder (Makhzani et al. 2016), Gaussian prior")
register_model("aae-mixture", AdversarialAutoencoder, "adversarial autoencoder, 2-D codes, prior a mixture of 10 "
               "Gaussians", preset={"latent_dim": 2, "prior": "mixture"})
register_model("aae-swissroll", AdversarialAutoencoder, "adversarial autoencoder, 2-D codes, swiss-roll prior",
               preset={"latent_dim": 2, "prior": "swissroll"})
