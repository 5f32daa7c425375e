"""VAEs with autoregressive decoders: PixelVAE (Gulrajani et al. 2017), a gated PixelCNN decoder conditioned on z,
and VLAE (Chen et al. 2017), the same with a restricted receptive field, so the decoder models local texture and
the latents must carry global structure, and an autoregressive-flow prior.

A decoder that sees every earlier pixel can model the data alone and ignore z (posterior collapse: KL -> 0, no
active units). Two cures, both settings here: a small receptive field (``layers``, ``kernel``, ``first_kernel``:
``receptive_field`` says how far it reaches) and free bits (Kingma et al. 2016: each latent dimension's batch-mean
KL counts at least ``free_bits`` nats in the training objective, so the optimiser gains nothing by pushing it
lower). The prior is N(0, I) or, with ``prior: af``, an autoregressive flow: z = mu(z_<i) + exp(s(z_<i)) * u with
u ~ N(0, I) and (mu, s) from a MADE, whose density is one MADE pass and whose samples take latent_dim passes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..config import positive
from ..data.dataset import DatasetInfo
from ..errors import ConfigError
from ..nn import MLP
from ..nn.made import MADE
from .autoencoding import Activation
from .autoregressive.fast_gated import sample_gated_fast
from .autoregressive.gated import GatedPixelCNNNet
from .autoregressive.model import Likelihood, resolve_head
from .autoregressive.sampling import draw_noise, to_input
from .base import Batch, GenerativeModel
from .registry import register_model
from .vae import LOG_2PI, gaussian_kl, iwae_bound, standard_normal_log_prob


@dataclass(frozen=True)
class PixelVAEConfig:
    """The encoder (an MLP to the Gaussian posterior), the conditional gated PixelCNN decoder, the prior and free
    bits."""

    latent_dim: int = 32
    hidden: tuple[int, ...] = (500, 500)
    activation: Activation = "relu"
    channels: int = 32
    layers: int = 6
    kernel: int = 3
    first_kernel: int = 7
    out_hidden: int = 32
    likelihood: Likelihood = "auto"
    mixtures: int = 5
    prior: Literal["gaussian", "af"] = "gaussian"
    prior_hidden: tuple[int, ...] = (256, 256)
    free_bits: float = 0.0  # nats per latent dimension (batch-mean KL), Gaussian prior only

    def __post_init__(self):
        for name in ("latent_dim", "channels", "layers", "kernel", "first_kernel", "out_hidden", "mixtures"):
            positive(name, getattr(self, name))
        for h in self.hidden + self.prior_hidden:
            positive("layer width", h)
        positive("free_bits", self.free_bits, allow_zero=True)
        if self.free_bits and self.prior != "gaussian":
            raise ConfigError("model.free_bits needs the Gaussian prior (per-dimension KL in closed form); "
                              "set model.prior=gaussian or model.free_bits=0")


def receptive_field(layers: int, kernel: int, first_kernel: int) -> tuple[int, int]:
    """(rows up, columns either side) that a gated PixelCNN's output at a pixel can see of its input: each layer
    widens the window by kernel // 2 (the first by first_kernel // 2); the vertical stack's shift adds a row."""
    r = first_kernel // 2 + (layers - 1) * (kernel // 2)
    return r + 1, r


class AutoregressiveFlowPrior(nn.Module):
    """p(z) for z (..., L): u_i = (z_i - mu_i(z_<i)) exp(-s_i(z_<i)) is N(0, 1), so
    log p(z) = log N(u) - sum_i s_i; ``sample`` inverts it one dimension at a time."""

    def __init__(self, dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.made = MADE(dim, hidden, outputs=2)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        mu, s = self.made(z).unbind(-2)
        return standard_normal_log_prob((z - mu) * (-s).exp()) - s.sum(-1)

    def sample(self, u: torch.Tensor) -> torch.Tensor:
        """u (n, L) standard normal -> z (n, L): dimension i is fixed at pass i (earlier ones never change)."""
        z = torch.zeros_like(u)
        for i in range(u.shape[-1]):
            mu, s = self.made(z).unbind(-2)
            z[:, i] = mu[:, i] + s[:, i].exp() * u[:, i]
        return z


class PixelVAE(GenerativeModel):
    """Gaussian encoder q(z|x), a prior (N(0, I) or an autoregressive flow), and an exact autoregressive decoder
    p(x|z) = prod_i p(x_i | x_<i, z) (a gated PixelCNN with z as its conditioning vector)."""

    Config = PixelVAEConfig
    default_train = {"lr": 1e-3, "batch_size": 64, "steps": 20_000}
    tiny = {"latent_dim": 3, "hidden": (16,), "channels": 8, "layers": 2, "out_hidden": 8, "mixtures": 2,
            "prior_hidden": (8,)}
    contract = {"image_shape": (1, 8, 8)}  # sampling is one network pass per pixel

    def __init__(self, config: PixelVAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.head = resolve_head(config.likelihood, info, config.mixtures)
        self.input_transform = self.head.input_transform
        self.shape, self.latent_dim = tuple(info.shape), config.latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), MLP(math.prod(info.shape), config.hidden, 2 * config.latent_dim,
                                                       config.activation))
        self.decoder = GatedPixelCNNNet(info.shape[0], self.head.params_per_dim, config.channels, config.layers,
                                        config.kernel, config.first_kernel, config.out_hidden, config.latent_dim)
        self.prior = AutoregressiveFlowPrior(config.latent_dim, config.prior_hidden) if config.prior == "af" else None
        self.receptive_field = receptive_field(config.layers, config.kernel, config.first_kernel)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, *shape) -> (mu, logvar) of q(z | x), each (B, L)."""
        mu, logvar = self.encoder(x).chunk(2, -1)
        return mu, logvar

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return standard_normal_log_prob(z) if self.prior is None else self.prior.log_prob(z)

    def decoder_log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z), exact, of the discrete data: x (B, C, H, W), z (B, L) -> (B,)."""
        return self.head.log_prob(self.decoder(to_input(x), z).float(), x)

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        x, cfg = batch.x, self.config
        mu, logvar = self.posterior(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        rec = self.decoder_log_prob(x, z)
        if self.prior is None:
            per_dim = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)  # (B, L), closed form
            kl = per_dim.sum(-1)
            penalty = per_dim.mean(0).clamp(min=cfg.free_bits).sum() if cfg.free_bits else kl.mean()
        else:  # one-sample KL against the flow prior
            log_q = -0.5 * (((z - mu) * (-0.5 * logvar).exp()).pow(2) + logvar + LOG_2PI).sum(-1)
            kl = log_q - self.prior.log_prob(z)
            penalty = kl.mean()
        return {"loss": -rec.mean() + penalty, "recon": -rec.mean().detach(), "kl": kl.mean().detach(),
                "elbo": (rec - kl).mean().detach()}

    def kl(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per example (B,): closed form under the Gaussian prior, a one-sample estimate under
        the flow prior."""
        mu, logvar = self.posterior(x)
        if self.prior is None:
            return gaussian_kl(mu, logvar)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        z = mu + (0.5 * logvar).exp() * eps
        return -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1) - self.prior.log_prob(z)

    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x | z_i) + log p(z_i) - log q(z_i | x) for k draws z_i ~ q: (k, B), one decoder pass each."""
        mu, logvar = self.posterior(x)
        eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype).to(mu.device)  # a CPU generator
        z = mu + (0.5 * logvar).exp() * eps
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
        rec = torch.stack([self.decoder_log_prob(x, zi) for zi in z])
        return rec + self.prior_log_prob(z) - log_q

    def elbo(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None,
             chunk: int = 50) -> torch.Tensor:
        """Bound on log P(x) of the discrete data in nats, (B,): the ELBO (k = 1; analytic KL under the Gaussian
        prior) or IWAE-k (k decoder passes per example)."""
        if k == 1 and self.prior is None:
            mu, logvar = self.posterior(x)
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
            return self.decoder_log_prob(x, mu + (0.5 * logvar).exp() * eps) - gaussian_kl(mu, logvar)
        return iwae_bound(lambda n: self.log_weights(x, n, generator), k, chunk)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) as from ``prepare`` -> posterior means (B, L)."""
        return self.posterior(x)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z: (B, L) -> images (B, C, H, W) in [0, 1] drawn from p(x | z) (an autoregressive decoder has no cheap
        mean), with uniforms from ``generator`` (default: seed 0, so decoding the same z repeats)."""
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        noise = draw_noise(len(z), self.shape, self.head, generator, z.dtype, z.device)
        was_training = self.decoder.training
        self.decoder.eval()
        try:
            return sample_gated_fast(self.decoder, self.head, noise, z, progress=False)
        finally:
            self.decoder.train(was_training)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x as from ``prepare`` -> a draw from p(x | the posterior mean) (B, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, temperature: float = 1.0):
        """z from the prior (scaled by ``temperature`` in its Gaussian base), then x ~ p(x | z): (n, C, H, W)."""
        u = torch.randn(n, self.latent_dim, generator=generator).to(self.device) * temperature
        z = u if self.prior is None else self.prior.sample(u)
        return self.decode(z, generator)

    def sample_semantics(self, options):
        return "draws"


register_model("pixelvae", PixelVAE, "PixelVAE (Gulrajani et al. 2017): VAE with a gated PixelCNN decoder conditioned "
               "on z (6 layers: sees 9 rows up)")
register_model("vlae", PixelVAE, "VLAE (Chen et al. 2017): PixelVAE with a restricted receptive field (2 layers: "
               "sees 4 rows up) and an autoregressive-flow prior", preset={"layers": 2, "first_kernel": 5, "prior": "af"})
