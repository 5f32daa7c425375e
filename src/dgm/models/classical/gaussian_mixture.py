"""Gaussian mixture by EM with full, diagonal or spherical covariances (the M-step of scikit-learn's
GaussianMixture, reg_covar included, so both give the same parameters from the same start), for real-valued
points: the 2-D toys, or any (N, D) float data."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ...config import positive
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ..registry import register_model
from .mixture import MixtureByEM


@dataclass(frozen=True)
class GaussianMixtureConfig:
    """K Gaussians; ``covariance``: full (D x D each), diag (D variances each) or spherical (one variance each)."""

    components: int = 8
    covariance: Literal["full", "diag", "spherical"] = "full"
    reg_covar: float = 1e-6  # added to every variance at each M-step (scikit-learn's default): no component collapses

    def __post_init__(self):
        positive("components", self.components)
        positive("reg_covar", self.reg_covar, allow_zero=True)


class GaussianMixture(MixtureByEM):
    """p(x) = sum_k pi_k N(x; mu_k, Sigma_k) over points x (D,); ``covariances`` is (K, D, D), (K, D) or (K,)
    as scikit-learn stores it."""

    Config = GaussianMixtureConfig
    input_transform = "unit"  # points pass through unchanged
    # one EM iteration on the whole 50,000-point toy training set per step
    default_train = {"batch_size": 50_000, "steps": 200, "log_every": 10}
    tiny = {"components": 3}
    contract = {"data": "points"}
    likelihood_note = "log-density of the real-valued points in nats (not a probability of discrete data)"

    def __init__(self, config: GaussianMixtureConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.kind != "points":
            raise ConfigError(f"gmm models real-valued points (N, D); {info.name} holds {info.kind} data "
                              f"{tuple(info.shape)}: use a points dataset (ring8, grid25, ...), or "
                              "bernoulli-mixture for binary images")
        k, d = config.components, info.shape[0]
        self.dim = d
        self.register_buffer("means", torch.randn(k, d, dtype=torch.float64))
        shape = {"full": (k, d, d), "diag": (k, d), "spherical": (k,)}[config.covariance]
        eye = torch.eye(d, dtype=torch.float64).expand(k, d, d)
        self.register_buffer("covariances", eye.clone() if config.covariance == "full"
                             else torch.ones(shape, dtype=torch.float64))

    def variances(self) -> torch.Tensor:
        """Per-dimension variances (K, D) of diag or spherical covariances."""
        c = self.covariances
        return c if self.config.covariance == "diag" else c[:, None].expand(-1, self.dim)

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        const = self.dim * math.log(2 * math.pi)
        if self.config.covariance == "full":
            chol = torch.linalg.cholesky(self.covariances)  # (K, D, D)
            logdet = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            maha = torch.stack([  # one component at a time: no (B, K, D) tensor for large B and D
                torch.linalg.solve_triangular(chol[k], (x - self.means[k]).T, upper=False).pow(2).sum(0)
                for k in range(len(chol))], 1)
        else:
            var = self.variances()
            logdet = var.log().sum(-1)
            maha = (x * x) @ (1 / var).T - 2 * x @ (self.means / var).T + (self.means.pow(2) / var).sum(-1)
        return -0.5 * (maha + logdet + const)

    def maximize(self, x: torch.Tensor, resp: torch.Tensor, nk: torch.Tensor) -> None:
        means = resp.T @ x / nk[:, None]
        reg = self.config.reg_covar
        if self.config.covariance == "full":
            eye = torch.eye(self.dim, dtype=x.dtype, device=x.device)
            cov = torch.stack([(resp[:, k, None] * (x - means[k])).T @ (x - means[k]) / nk[k] + reg * eye
                               for k in range(len(nk))])
        else:
            var = torch.stack([(resp[:, k, None] * (x - means[k]).pow(2)).sum(0) / nk[k]
                               for k in range(len(nk))]) + reg
            cov = var if self.config.covariance == "diag" else var.mean(1)
        self.means.copy_(means)
        self.covariances.copy_(cov)

    def draw(self, components: torch.Tensor, generator: torch.Generator | None, **options) -> torch.Tensor:
        z = torch.randn(len(components), self.dim, generator=generator, dtype=torch.float64).to(self.means.device)
        c = components.to(self.means.device)
        if self.config.covariance == "full":
            noise = (torch.linalg.cholesky(self.covariances)[c] @ z[:, :, None])[:, :, 0]
        else:
            noise = self.variances()[c].sqrt() * z
        return (self.means[c] + noise).float()

    @torch.no_grad()
    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """n points (n, D): a component from the weights, then a draw from its Gaussian (labels are ignored:
        the mixture is unconditional)."""
        return self.draw(self.components(n, generator), generator)


register_model("gmm", GaussianMixture, "Gaussian mixture by EM (full, diag or spherical covariances; k-means++ "
               "start) for real-valued points")
