"""Improved precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) from
k-nearest-neighbour balls in feature space."""
from __future__ import annotations

import torch


def _pairwise(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Euclidean distances (N, M), computed in row chunks in float64."""
    return torch.cat([torch.cdist(a[i : i + chunk].double(), b.double()) for i in range(0, len(a), chunk)])


def knn_radii(features: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point: (N,)."""
    d = _pairwise(features, features)
    return d.kthvalue(k + 1, dim=1).values  # k + 1: the point itself is its own nearest neighbour


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> dict[str, float]:
    """Precision: share of fakes inside some real k-NN ball; recall: share of reals inside some fake ball.
    Density: mean number of real balls holding each fake / k; coverage: share of reals whose ball holds a fake."""
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    d = _pairwise(fake, real)  # (F, R)
    inside_real = d <= r_real[None, :]
    precision = inside_real.any(1).double().mean()
    recall = (d.T <= r_fake[None, :]).any(1).double().mean()
    density = inside_real.sum(1).double().mean() / k
    coverage = (d.min(0).values <= r_real).double().mean()
    return {"precision": float(precision), "recall": float(recall), "density": float(density),
            "coverage": float(coverage), "k": k}
