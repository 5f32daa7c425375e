"""Variational autoencoders: VAE (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017) with the
capacity schedule of Burgess et al. (2018), and the IWAE bound (Burda et al. 2016)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import positive
from ..errors import ConfigError
from ..data.dataset import DatasetInfo
from .autoencoding import DecodesThroughHead, EncoderDecoder, EncoderDecoderConfig
from .base import Batch, GenerativeModel
from .registry import register_model

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VAEConfig(EncoderDecoderConfig):
    """VAE variants are settings: beta, the capacity C schedule, and the number of importance samples."""

    beta: float = 1.0  # weight of the KL term (beta-VAE)
    capacity: float = 0.0  # Burgess C_max in nats; > 0 trains recon + gamma * |KL - C(step)|
    capacity_steps: int = 100_000  # steps over which C grows linearly from 0 to C_max
    capacity_gamma: float = 1000.0
    iwae_k: int = 1  # importance samples in the training bound (1 = ELBO, k > 1 = IWAE)

    def __post_init__(self):
        super().__post_init__()
        positive("beta", self.beta, allow_zero=True)
        positive("capacity", self.capacity, allow_zero=True)
        positive("capacity_steps", self.capacity_steps)
        positive("iwae_k", self.iwae_k)
        if self.iwae_k > 100_000:  # k decoder passes per example per step
            raise ConfigError(f"iwae_k {self.iwae_k} is too large to train with (k decoder passes per example); "
                              "use at most 100000 (the IWAE paper trains with k <= 50)")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the last dim: (B, L) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)


class VAE(DecodesThroughHead, GenerativeModel):
    """Gaussian encoder q(z|x), standard normal prior, decoder likelihood from the configured head."""

    Config = VAEConfig
    default_train = {"lr": 1e-3, "batch_size": 100, "steps": 10_000}
    tiny = {"hidden": (16,), "latent_dim": 3, "conv_channels": (4, 8)}

    def __init__(self, config: VAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.latent_dim = config.latent_dim
        self.net = EncoderDecoder(config, info.shape, info.kind, 2 * config.latent_dim)
        self.head = self.net.head
        self.input_transform = self.head.input_transform
        self.dims = math.prod(info.shape)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, *shape) -> (mu, logvar), each (B, L)."""
        mu, logvar = self.net.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def log_weights(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance log-weights log p(x, z_i) - log q(z_i | x) for k samples z_i ~ q: (k, B)."""
        eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype).to(mu.device)  # CPU generator
        z = mu + (0.5 * logvar).exp() * eps  # (k, B, L)
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
        log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        return self.head.log_prob(self.net.decoder(z), x) + log_prior - log_q

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        x, cfg = batch.x, self.config
        mu, logvar = self.posterior(x)
        if cfg.iwae_k > 1:
            log_w = self.log_weights(x, mu, logvar, cfg.iwae_k)
            bound = torch.logsumexp(log_w, 0) - math.log(cfg.iwae_k)
            return {"loss": -bound.mean(), "iwae_bound": bound.mean().detach()}
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        rec = self.head.log_prob(self.net.decoder(z), x)
        kl = gaussian_kl(mu, logvar)
        if cfg.capacity > 0:  # Burgess et al.: gamma * |KL - C| on the batch-mean KL
            c = cfg.capacity * min(1.0, batch.step / cfg.capacity_steps)
            objective = -rec.mean() + cfg.capacity_gamma * (kl.mean() - c).abs()
        else:
            objective = (-rec + cfg.beta * kl).mean()
        return {"loss": objective, "recon": -rec.mean().detach(), "kl": kl.mean().detach(),
                "elbo": (rec - kl).mean().detach()}

    def elbo(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None,
             chunk: int = 250) -> torch.Tensor:
        """Bound on log P(x) of the discrete data in nats, (B,): the ELBO (k=1, analytic KL) or IWAE-k.

        Large k is processed ``chunk`` samples at a time and combined with logsumexp.
        """
        mu, logvar = self.posterior(x)
        if k == 1:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
            z = mu + (0.5 * logvar).exp() * eps
            bound = self.head.log_prob(self.net.decoder(z), x) - gaussian_kl(mu, logvar)
        else:
            parts = [torch.logsumexp(self.log_weights(x, mu, logvar, min(chunk, k - s), generator), 0)
                     for s in range(0, k, chunk)]
            bound = torch.logsumexp(torch.stack(parts), 0) - math.log(k)
        return bound + self.head.discrete_correction(self.dims)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) as from ``prepare`` -> posterior means (B, L)."""
        return self.posterior(x)[0]

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, temperature: float = 1.0, mean: bool = True):
        """n samples decoded from z ~ N(0, temperature^2 I): the decoder's mean (``mean``, as VAE papers show
        their samples) or a draw from the decoder's likelihood (``mean=False``); (n, C, H, W) in [0, 1]."""
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device) * temperature
        return self.decode_samples(z, mean, generator)


register_model("vae", VAE, "VAE (Kingma & Welling 2014); Bernoulli decoder on binarised data by default")
register_model("beta-vae", VAE, "beta-VAE (Higgins et al. 2017), beta = 4", preset={"beta": 4.0})
register_model("beta-vae-c", VAE, "beta-VAE with Burgess et al.'s capacity schedule (C to 25 nats, gamma 1000)",
               preset={"capacity": 25.0, "capacity_steps": 100_000, "capacity_gamma": 1000.0})
register_model("iwae", VAE, "importance weighted autoencoder (Burda et al. 2016), k = 5", preset={"iwae_k": 5})
