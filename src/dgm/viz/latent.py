"""Pictures of a latent space: interpolations, per-dimension traversals, and the 2-D manifold grid."""
from __future__ import annotations

import torch

from ..metrics.path_length import slerp_rows
from ..models.base import LatentModel


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b (B, L) at fractions t (T,) -> (B, T, L)."""
    return slerp_rows(a[:, None], b[:, None], t[None, :, None])


@torch.no_grad()
def interpolate(model: LatentModel, za: torch.Tensor, zb: torch.Tensor, steps: int = 10,
                spherical: bool = False) -> torch.Tensor:
    """Decode ``steps`` points from za to zb (B, L) -> images (B * steps, C, H, W), row-major per pair."""
    t = torch.linspace(0, 1, steps)
    if spherical:
        z = slerp(za, zb, t)
    else:
        z = za[:, None] + t[None, :, None] * (zb - za)[:, None]
    return model.decode(z.reshape(-1, za.shape[-1]))


@torch.no_grad()
def traverse(model: LatentModel, z: torch.Tensor, dims: list[int] | None = None, span: float = 3.0,
             steps: int = 9) -> torch.Tensor:
    """Vary each latent dim of one code z (L,) over [-span, span], others fixed -> (len(dims) * steps, C, H, W)."""
    dims = list(range(z.numel())) if dims is None else dims
    values = torch.linspace(-span, span, steps)
    codes = z.reshape(1, 1, -1).repeat(len(dims), steps, 1)
    for row, d in enumerate(dims):
        codes[row, :, d] = values
    return model.decode(codes.reshape(-1, z.numel()))


@torch.no_grad()
def manifold(model: LatentModel, n: int = 20, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """For 2-D latents: decode an n x n grid of Gaussian quantiles in [low, high]^2 -> (n*n, C, H, W)."""
    if model.latent_dim != 2:
        raise ValueError(f"the manifold grid needs latent_dim=2, the model has {model.latent_dim}")
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(low, high, n))
    zy, zx = torch.meshgrid(q.flip(0), q, indexing="ij")
    return model.decode(torch.stack([zx, zy], -1).reshape(-1, 2))


@torch.no_grad()
def kl_per_dim(model, x: torch.Tensor) -> torch.Tensor | None:
    """Mean KL(q(z_d | x) || N(0, 1)) of each latent dim over a batch x (as ``prepare`` gives it) -> (L,) nats,
    or None for a model without a Gaussian posterior (``posterior(x) -> (mu, logvar)``)."""
    if not hasattr(model, "posterior"):
        return None
    mu, logvar = model.posterior(x)
    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)).mean(0).cpu()


def captured_factors(codes: torch.Tensor, factor_indices: torch.Tensor, names: tuple[str, ...], bins: int = 20
                     ) -> list[tuple[str, float]]:
    """For each code dim of (N, L) codes: the factor it shares most information with and that information over
    the factor's entropy (0: none, 1: the dim determines the factor), from (N, K) factor indices."""
    from ..metrics.disentanglement import discretize, entropy, mutual_information

    discrete = discretize(codes.double(), bins)
    h = [max(entropy(factor_indices[:, k]), 1e-12) for k in range(len(names))]
    out = []
    for d in range(codes.shape[1]):
        share = [mutual_information(discrete[:, d], factor_indices[:, k]) / h[k] for k in range(len(names))]
        best = max(range(len(names)), key=lambda k: share[k])
        out.append((names[best], share[best]))
    return out


@torch.no_grad()
def traversal_dims(model, data, rows: int, seed: int = 0, n: int = 2000) -> tuple[list[int], list[str]]:
    """The latent dims a traversal grid shows, most informative first (by mean KL where the model has a Gaussian
    posterior, else in order), with one line per row naming its KL and, when ``data`` has ground-truth factors
    (dSprites), the factor that dim captures."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:n]
    x = model.prepare(data.data[idx], g, train=False).to(model.device)
    kl = kl_per_dim(model, x)
    order = torch.argsort(kl, descending=True, stable=True).tolist() if kl is not None else \
        list(range(model.latent_dim))
    dims = order[:min(rows, model.latent_dim)]
    factors = getattr(data, "factors", None)
    named = captured_factors(model.encode(x).cpu(), factors.indices[idx], factors.names) if factors else None
    lines = []
    for row, d in enumerate(dims):
        line = f"row {row}: z{d}" + (f", KL {float(kl[d]):.2f} nats" if kl is not None else "")
        if named:
            line += f", captures {named[d][0]} (MI / H = {named[d][1]:.2f})"
        lines.append(line)
    return dims, lines
