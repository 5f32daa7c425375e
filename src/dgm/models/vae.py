"""Variational autoencoders: VAE (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017) with the
capacity schedule of Burgess et al. (2018), the IWAE bound (Burda et al. 2016), and posteriors refined by an
inverse autoregressive flow (Kingma et al. 2016; ``model.posterior: iaf``)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..config import positive
from ..errors import ConfigError
from ..data.dataset import DatasetInfo
from .autoencoding import DecodesThroughHead, EncoderDecoder, EncoderDecoderConfig
from .base import Batch, GenerativeModel
from .iaf import IAF
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
    posterior: Literal["gaussian", "iaf"] = "gaussian"  # iaf: the Gaussian refined by iaf_steps IAF steps
    iaf_steps: int = 4
    iaf_hidden: tuple[int, ...] = (320, 320)  # each step's MADE
    iaf_context: int = 50  # size of the encoder's context h, fed to every step

    def __post_init__(self):
        super().__post_init__()
        positive("iaf_steps", self.iaf_steps, allow_zero=True)
        positive("iaf_context", self.iaf_context, allow_zero=True)
        for h in self.iaf_hidden:
            positive("iaf_hidden width", h)
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


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim: (..., L) -> (...)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def iwae_bound(log_weights, k: int, chunk: int = 250) -> torch.Tensor:
    """log (1/k) sum_i w_i from ``log_weights(n) -> (n, B)`` (n fresh draws), ``chunk`` draws at a time so large k
    fits in memory: (B,)."""
    parts = [torch.logsumexp(log_weights(min(chunk, k - s)), 0) for s in range(0, k, chunk)]
    return torch.logsumexp(torch.stack(parts), 0) - math.log(k)


class VAE(DecodesThroughHead, GenerativeModel):
    """Gaussian encoder q(z|x) (optionally refined by an IAF), standard normal prior, decoder likelihood from the
    configured head."""

    Config = VAEConfig
    default_train = {"lr": 1e-3, "batch_size": 100, "steps": 10_000}
    tiny = {"hidden": (16,), "latent_dim": 3, "conv_channels": (4, 8), "iaf_hidden": (8,), "iaf_context": 4}

    def __init__(self, config: VAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.latent_dim = config.latent_dim
        flows = config.posterior == "iaf" and config.iaf_steps > 0  # zero steps: the plain Gaussian posterior
        context = config.iaf_context if flows else 0
        self.net = EncoderDecoder(config, info.shape, info.kind, 2 * config.latent_dim + context)
        self.flow = IAF(config.latent_dim, config.iaf_steps, config.iaf_hidden, context) if flows else None
        self.head = self.net.head
        self.input_transform = self.head.input_transform
        self.dims = math.prod(info.shape)

    def encoded(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x: (B, *shape) -> (mu, logvar) of the Gaussian q(z_0 | x), each (B, L), and the IAF's context h (B, H)
        (None without a flow)."""
        out = self.net.encoder(x)
        n = self.latent_dim
        return out[..., :n], out[..., n:2 * n], out[..., 2 * n:] if self.flow is not None else None

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, *shape) -> (mu, logvar), each (B, L): the Gaussian posterior (with an IAF: its base q(z_0 | x))."""
        return self.encoded(x)[:2]

    def draw_posterior(self, x: torch.Tensor, k: int | None = None, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Codes z ~ q(z | x) with log q(z | x): (B, L) and (B,), or with ``k`` (k, B, L) and (k, B); and the KL of
        q(z | x) from the prior (B,): analytic for the Gaussian posterior, log q(z | x) - log p(z) of the first
        draw with an IAF (a one-sample estimate)."""
        mu, logvar, h = self.encoded(x)
        shape = mu.shape if k is None else (k, *mu.shape)
        eps = torch.randn_like(mu) if generator is None and k is None else \
            torch.randn(shape, generator=generator, dtype=mu.dtype).to(mu.device)  # a CPU generator
        z = mu + (0.5 * logvar).exp() * eps
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
        if self.flow is None:
            return z, log_q, gaussian_kl(mu, logvar)
        z, log_det = self.flow(z, h)
        log_q = log_q - log_det  # change of variables through the flow's triangular Jacobian
        kl = log_q - standard_normal_log_prob(z)
        return z, log_q, kl if k is None else kl[0]

    def kl(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per example (B,): closed form, or with an IAF a one-sample estimate."""
        return self.draw_posterior(x, 1, generator)[2]

    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance log-weights log p(x, z_i) - log q(z_i | x) for k samples z_i ~ q: (k, B)."""
        z, log_q, _ = self.draw_posterior(x, k, generator)
        return self.head.log_prob(self.net.decoder(z), x) + standard_normal_log_prob(z) - log_q

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        x, cfg = batch.x, self.config
        if cfg.iwae_k > 1:
            log_w = self.log_weights(x, cfg.iwae_k)
            bound = torch.logsumexp(log_w, 0) - math.log(cfg.iwae_k)
            return {"loss": -bound.mean(), "iwae_bound": bound.mean().detach()}
        z, _, kl = self.draw_posterior(x)
        rec = self.head.log_prob(self.net.decoder(z), x)
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
        if k == 1:
            z, _, kl = self.draw_posterior(x, 1, generator)
            bound = self.head.log_prob(self.net.decoder(z[0]), x) - kl
        else:
            bound = iwae_bound(lambda n: self.log_weights(x, n, generator), k, chunk)
        return bound + self.head.discrete_correction(self.dims)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) as from ``prepare`` -> codes (B, L): the posterior means (with an IAF: the flow of the
        base's mean, the code at eps = 0)."""
        mu, _, h = self.encoded(x)
        return mu if self.flow is None else self.flow(mu, h)[0]

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
register_model("vae-iaf", VAE, "VAE with an inverse autoregressive flow posterior (Kingma et al. 2016), 4 steps",
               preset={"posterior": "iaf"})
