"""Latent-space statistics: active units (Burda et al. 2016) and the KL of the posterior from the prior."""
from __future__ import annotations

import torch

from ..data.dataset import ImageDataset
from ..models.base import HasKL, LatentModel


@torch.no_grad()
def latent_means(model: LatentModel, data: ImageDataset, batch_size: int = 500, seed: int = 0) -> torch.Tensor:
    """Codes of every sample of ``data`` (a VAE's posterior means E_q[z|x], an autoencoder's codes): (N, L)."""
    g = torch.Generator().manual_seed(seed)
    device = getattr(model, "device", torch.device("cpu"))
    parts = [model.encode(model.prepare(data.data[i : i + batch_size], g, train=False).to(device)).cpu()
             for i in range(0, len(data), batch_size)]
    return torch.cat(parts)


def active_units(means: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """A unit u is active if Cov_x(E_q[u|x]) > threshold; means: (N, L) -> (count, per-unit variances (L,))."""
    var = means.double().var(0, unbiased=True)
    return int((var > threshold).sum()), var.float()


@torch.no_grad()
def mean_kl(model: HasKL, data: ImageDataset, batch_size: int = 500, seed: int = 0) -> dict[str, float]:
    """KL(q(z|x) || p(z)) averaged over ``data``'s examples, in nats, with its standard error. The inputs are
    prepared as ``latent_means`` prepares them (the same binarisation); estimates draw from a second generator."""
    g, draws = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    device = getattr(model, "device", torch.device("cpu"))
    kl = torch.cat([model.kl(model.prepare(data.data[i: i + batch_size], g, train=False).to(device), draws)
                    .double().cpu() for i in range(0, len(data), batch_size)])
    return {"kl_nats": float(kl.mean()), "stderr": float(kl.std() / len(kl) ** 0.5) if len(kl) > 1 else 0.0,
            "n": len(kl)}
