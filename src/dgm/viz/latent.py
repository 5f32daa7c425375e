"""Pictures of a latent space: interpolations, per-dimension traversals, and the 2-D manifold grid."""
from __future__ import annotations

import torch

from ..models.base import LatentModel


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b (B, L) at fractions t (T,) -> (B, T, L)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]  # (B, 1, 1)
    t = t[None, :, None]
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a[:, None] + (torch.sin(t * omega) / so) * b[:, None]


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
