"""Deterministic autoencoders: plain AE and denoising AE (Vincent et al. 2008)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..config import positive
from ..data.dataset import DatasetInfo
from .autoencoding import DecodesThroughHead, EncoderDecoder, EncoderDecoderConfig
from .base import Batch, GenerativeModel
from .registry import register_model


@dataclass(frozen=True)
class AEConfig(EncoderDecoderConfig):
    """An autoencoder; ``corruption`` makes it a denoising autoencoder."""

    latent_dim: int = 32
    activation: Literal["relu", "tanh", "elu", "softplus", "leaky_relu", "silu"] = "relu"
    corruption: Literal["none", "gaussian", "mask"] = "none"
    noise_level: float = 0.25  # std of Gaussian noise, or the fraction of pixels masked to 0
    latent_momentum: float = 0.01  # running moments of the codes, used to sample

    def __post_init__(self):
        super().__post_init__()
        positive("noise_level", self.noise_level, allow_zero=True)


class Autoencoder(DecodesThroughHead, GenerativeModel):
    """Reconstruction by the likelihood head; samples decode z ~ N(running mean, running var) of the codes."""

    Config = AEConfig
    default_train = {"lr": 1e-3, "batch_size": 128, "steps": 10_000}
    tiny = {"hidden": (16,), "latent_dim": 3, "conv_channels": (4, 8)}

    def __init__(self, config: AEConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.latent_dim = config.latent_dim
        self.net = EncoderDecoder(config, info.shape, info.kind, config.latent_dim)
        self.head = self.net.head
        self.input_transform = self.head.input_transform
        self.register_buffer("code_mean", torch.zeros(config.latent_dim))
        self.register_buffer("code_var", torch.ones(config.latent_dim))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.corruption == "gaussian":
            return x + cfg.noise_level * torch.randn_like(x)
        if cfg.corruption == "mask":
            return x * (torch.rand_like(x) >= cfg.noise_level)
        return x

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        z = self.net.encoder(self.corrupt(batch.x))
        rec = self.head.log_prob(self.net.decoder(z), batch.x)
        with torch.no_grad():
            m = self.config.latent_momentum
            self.code_mean.lerp_(z.mean(0), m)
            self.code_var.lerp_(z.var(0, unbiased=False), m)
        return {"loss": -rec.mean(), "recon": -rec.mean().detach()}

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, temperature: float = 1.0, mean: bool = True):
        """Decode codes drawn from a diagonal Gaussian fitted (running moments) to training codes: the decoder's
        mean (``mean``) or a draw from its likelihood; (n, C, H, W) in [0, 1]."""
        eps = torch.randn(n, self.latent_dim, generator=generator).to(self.device) * temperature
        return self.decode_samples(self.code_mean + self.code_var.sqrt() * eps, mean, generator)


register_model("ae", Autoencoder, "autoencoder (deterministic codes); samples from a Gaussian fit of the codes")
register_model("dae", Autoencoder, "denoising autoencoder (Vincent et al. 2008), 25% masking noise",
               preset={"corruption": "mask", "noise_level": 0.25})
