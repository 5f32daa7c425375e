"""Priors over codes that an adversarial autoencoder matches its aggregate posterior to (Makhzani et al. 2016):
a standard Gaussian (any dimension), a mixture of K elongated 2-D Gaussians on a circle, and a 2-D swiss roll;
the last two can be label-conditioned (class k's codes go to component k / segment k of the roll). Each has an
exact log-density, so the share of codes inside its high-density region is measurable."""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError

LOG_2PI = math.log(2 * math.pi)


class LatentPrior:
    """``sample(n, labels, generator) -> (n, dim)``; ``log_density(z) -> (n,)``; ``regions``: how many label
    regions it has (0: it cannot be label-conditioned)."""

    dim: int = 2
    regions: int = 0

    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        raise NotImplementedError

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check_labels(self, labels: torch.Tensor | None) -> None:
        if labels is not None and (not self.regions or bool(((labels < 0) | (labels >= self.regions)).any())):
            raise ConfigError(f"this prior has {self.regions} label regions; labels must be in 0..{self.regions - 1}"
                              if self.regions else "a Gaussian prior has no label regions")


class GaussianPrior(LatentPrior):
    """N(0, I) in ``dim`` dimensions."""

    def __init__(self, dim: int):
        self.dim = dim

    def sample(self, n, labels=None, generator=None):
        self._check_labels(labels)
        return torch.randn(n, self.dim, generator=generator)

    def log_density(self, z):
        return -0.5 * (z.pow(2).sum(-1) + self.dim * LOG_2PI)


class MixturePrior(LatentPrior):
    """K 2-D Gaussians with means on a circle of ``radius``, each elongated along its radius (std ``radial``
    along it, ``tangential`` across), equally weighted."""

    def __init__(self, k: int = 10, radius: float = 4.0, radial: float = 0.5, tangential: float = 0.1):
        self.regions, self.radius, self.radial, self.tangential = k, radius, radial, tangential
        angle = torch.arange(k) * (2 * math.pi / k)
        self.direction = torch.stack([angle.cos(), angle.sin()], 1)  # (K, 2) unit radial directions

    def sample(self, n, labels=None, generator=None):
        self._check_labels(labels)
        k = torch.randint(0, self.regions, (n,), generator=generator) if labels is None else labels.cpu().long()
        e = torch.randn(n, 2, generator=generator)
        u = self.direction[k]
        across = torch.stack([-u[:, 1], u[:, 0]], 1)
        return u * (self.radius + self.radial * e[:, :1]) + across * (self.tangential * e[:, 1:])

    def log_density(self, z):
        d = z.double()[:, None, :] - self.radius * self.direction.double()[None]  # (n, K, 2)
        along = (d * self.direction.double()[None]).sum(-1)
        across = d[..., 0] * -self.direction.double()[None, :, 1] + d[..., 1] * self.direction.double()[None, :, 0]
        log_c = -0.5 * ((along / self.radial) ** 2 + (across / self.tangential) ** 2) - LOG_2PI \
            - math.log(self.radial * self.tangential)
        return (torch.logsumexp(log_c, 1) - math.log(self.regions)).to(z.dtype)


class SwissRollPrior(LatentPrior):
    """A 2-D swiss roll: t ~ U[0, 1), the point at angle 4 pi sqrt(t) and radius 0.5 + 3.5 sqrt(t), plus
    N(0, noise^2); label k takes t in [k / K, (k + 1) / K)."""

    def __init__(self, k: int = 10, noise: float = 0.05):
        self.regions, self.noise = k, noise

    @staticmethod
    def curve(t: torch.Tensor) -> torch.Tensor:
        u = t.sqrt()
        return (0.5 + 3.5 * u)[:, None] * torch.stack([(4 * math.pi * u).cos(), (4 * math.pi * u).sin()], 1)

    def sample(self, n, labels=None, generator=None):
        self._check_labels(labels)
        t = torch.rand(n, generator=generator)
        if labels is not None:
            t = (labels.cpu().double() + t.double()) / self.regions
        return (self.curve(t.double()) + self.noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
                ).float()

    def log_density(self, z, grid: int = 4000):
        t = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid  # midpoint rule over t ~ U[0, 1)
        c = self.curve(t)  # (G, 2)
        sq = torch.cdist(z.double(), c).pow(2)
        log_k = -0.5 * sq / self.noise ** 2 - LOG_2PI - 2 * math.log(self.noise)
        return (torch.logsumexp(log_k, 1) - math.log(grid)).to(z.dtype)


def make_prior(name: str, dim: int, components: int) -> LatentPrior:
    """'gaussian' (any dim), 'mixture' or 'swissroll' (2-D codes only)."""
    if name == "gaussian":
        return GaussianPrior(dim)
    if dim != 2:
        raise ConfigError(f"prior {name!r} is 2-D; set model.latent_dim=2 (or use prior=gaussian)")
    if name == "mixture":
        return MixturePrior(components)
    if name == "swissroll":
        return SwissRollPrior(components)
    raise ConfigError(f"unknown prior {name!r}; choose gaussian, mixture or swissroll")


def high_density_share(prior: LatentPrior, codes: torch.Tensor, mass: float = 0.95, n: int = 20000,
                       seed: int = 0) -> float:
    """The share of ``codes`` (N, dim) inside the prior's highest-density region holding ``mass`` of it (its
    log-density threshold found from ``n`` prior samples)."""
    ref = prior.log_density(prior.sample(n, generator=torch.Generator().manual_seed(seed)))
    threshold = torch.quantile(ref.double(), 1 - mass)
    return float((prior.log_density(codes).double() >= threshold).double().mean())
