"""VAEs with several stochastic layers (Burda et al. 2016's two-layer architecture for MNIST: 784-100-100-z1(100)
-50-50-z2(50), tanh), trained on the ELBO or the IWAE bound.

Inference goes up, q(z_1 | x) q(z_2 | z_1) ..., generation comes down, p(z_L) p(z_{L-1} | z_L) ... p(x | z_1), every
conditional a diagonal Gaussian (mean and log-variance from an MLP) but p(x | z_1), the configured likelihood head.
Bounds are estimated from sampled importance weights log p(x, z) - log q(z | x) (no analytic KL across layers)."""
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
from .autoencoding import Activation, DecodesThroughHead, resolve_likelihood
from .base import Batch, GenerativeModel
from .likelihoods import make_head
from .registry import register_model
from .vae import LOG_2PI, iwae_bound, standard_normal_log_prob


@dataclass(frozen=True)
class HierarchicalVAEConfig:
    """Stochastic layers from the data up: ``latent_dims[i]`` units, each above ``depth`` deterministic layers of
    ``hidden[i]`` units (the same widths in the generative direction, as the paper)."""

    latent_dims: tuple[int, ...] = (100, 50)
    hidden: tuple[int, ...] = (100, 50)
    depth: int = 2
    activation: Activation = "tanh"
    likelihood: Literal["auto", "bernoulli", "gaussian", "gaussian_learned"] = "auto"
    gaussian_std: float = 0.1
    iwae_k: int = 1  # importance samples in the training bound (1 = ELBO)

    def __post_init__(self):
        if not self.latent_dims or len(self.latent_dims) != len(self.hidden):
            raise ConfigError(f"model.latent_dims {list(self.latent_dims)} and model.hidden {list(self.hidden)} "
                              "need one entry per stochastic layer each")
        for d in self.latent_dims + self.hidden:
            positive("layer width", d)
        positive("depth", self.depth, allow_zero=True)
        positive("gaussian_std", self.gaussian_std)
        positive("iwae_k", self.iwae_k)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) summed over the last dim: (..., L) -> (...)."""
    return -0.5 * ((z - mu).pow(2) * (-logvar).exp() + logvar + LOG_2PI).sum(-1)


class Ladder(nn.Module):
    """The networks: ``up[i]`` gives q(z_i | the layer below) (x for i = 0), ``down[i]`` p(z_i | z_{i+1}), and
    ``decoder(codes)`` the likelihood parameters of x from z_1 (the first latent_dims[0] entries of the codes)."""

    def __init__(self, cfg: HierarchicalVAEConfig, shape: tuple[int, ...], params_per_dim: int):
        super().__init__()
        d, dims, widths = math.prod(shape), cfg.latent_dims, cfg.hidden
        self.z1, self.param_shape = dims[0], (params_per_dim * shape[0], *shape[1:])
        below = (d,) + dims[:-1]
        self.up = nn.ModuleList(MLP(b, (w,) * cfg.depth, 2 * z, cfg.activation) for b, w, z in zip(below, widths, dims))
        self.down = nn.ModuleList(MLP(dims[i + 1], (widths[i + 1],) * cfg.depth, 2 * dims[i], cfg.activation)
                                  for i in range(len(dims) - 1))
        self.decoder_net = MLP(dims[0], (widths[0],) * cfg.depth, params_per_dim * d, cfg.activation)

    def decoder(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (..., sum of latent_dims) or z_1 (..., latent_dims[0]) -> likelihood parameters (..., P*C, H, W)."""
        out = self.decoder_net(codes[..., : self.z1])
        return out.view(*codes.shape[:-1], *self.param_shape)


class HierarchicalVAE(DecodesThroughHead, GenerativeModel):
    """A VAE with ``len(latent_dims)`` stochastic layers; codes are the layers' values side by side (B, sum L_i)."""

    Config = HierarchicalVAEConfig
    default_train = {"lr": 1e-3, "batch_size": 100, "steps": 10_000}
    tiny = {"latent_dims": (3, 2), "hidden": (8, 6), "depth": 1}

    def __init__(self, config: HierarchicalVAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.kind == "points" or len(info.shape) != 3:
            raise ConfigError(f"{type(self).__name__} models images; got {info.kind} data of shape {info.shape}")
        self.head = make_head(resolve_likelihood(config, info.kind), len(info.shape), gaussian_std=config.gaussian_std)
        self.input_transform = self.head.input_transform
        self.net = Ladder(config, tuple(info.shape), self.head.params_per_dim)
        self.latent_layers = tuple(config.latent_dims)  # active units are counted per layer
        self.latent_dim = sum(config.latent_dims)
        self.dims = math.prod(info.shape)

    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance log-weights log p(x, z_1..L) - log q(z_1..L | x) of k draws up the hierarchy: (k, B)."""
        below, zs = x.flatten(1), []
        log_q = x.new_zeros(k, len(x))
        for i, up in enumerate(self.net.up):
            mu, logvar = up(below).chunk(2, -1)
            shape = (k, *mu.shape) if i == 0 else mu.shape
            eps = torch.randn(shape, generator=generator, dtype=mu.dtype).to(mu.device)  # a CPU generator
            below = mu + (0.5 * logvar).exp() * eps
            log_q = log_q - 0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)
            zs.append(below)
        log_p = standard_normal_log_prob(zs[-1])
        for i, down in enumerate(self.net.down):
            mu, logvar = down(zs[i + 1]).chunk(2, -1)
            log_p = log_p + gaussian_log_prob(zs[i], mu, logvar)
        return self.head.log_prob(self.net.decoder(zs[0]), x) + log_p - log_q

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        k = self.config.iwae_k
        bound = torch.logsumexp(self.log_weights(batch.x, k), 0) - math.log(k)
        return {"loss": -bound.mean(), ("elbo" if k == 1 else "iwae_bound"): bound.mean().detach()}

    def elbo(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None,
             chunk: int = 250) -> torch.Tensor:
        """Bound on log P(x) of the discrete data in nats, (B,): the one-sample ELBO (k = 1) or IWAE-k."""
        bound = iwae_bound(lambda n: self.log_weights(x, n, generator), k, chunk)
        return bound + self.head.discrete_correction(self.dims)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) as from ``prepare`` -> the layers' posterior means, each from the mean below (B, sum L_i)."""
        below, means = x.flatten(1), []
        for up in self.net.up:
            below = up(below).chunk(2, -1)[0]
            means.append(below)
        return torch.cat(means, -1)

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, temperature: float = 1.0, mean: bool = True):
        """Ancestral samples: z_L ~ N(0, temperature^2 I), each z_i ~ p(z_i | z_{i+1}), then the decoder's mean
        (``mean``) or a likelihood draw; (n, C, H, W) in [0, 1]."""
        def noise(shape):
            return torch.randn(shape, generator=generator).to(self.device)

        z = noise((n, self.config.latent_dims[-1])) * temperature
        zs = [z]
        for down in reversed(self.net.down):
            mu, logvar = down(z).chunk(2, -1)
            z = mu + (0.5 * logvar).exp() * noise(mu.shape)
            zs.insert(0, z)
        return self.decode_samples(torch.cat(zs, -1), mean, generator)


register_model("vae-2l", HierarchicalVAE, "VAE with two stochastic layers (Burda et al. 2016: 784-100-100-100-50-50-50, "
               "tanh), ELBO")
register_model("iwae-2l", HierarchicalVAE, "IWAE with two stochastic layers (Burda et al. 2016), k = 5",
               preset={"iwae_k": 5})
