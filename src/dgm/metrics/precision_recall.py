"""Improved precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) from
k-nearest-neighbour balls in feature space.

Distances are computed ``chunk`` rows at a time and reduced at once, so memory peaks at (chunk, N) float64
values, never the whole (N, M) matrix (50k x 50k would be 20 GB)."""
from __future__ import annotations

from typing import Iterator

import torch

CHUNK = 2048


def _row_chunks(a: torch.Tensor, b: torch.Tensor, chunk: int) -> Iterator[tuple[slice, torch.Tensor]]:
    """(rows, Euclidean distances (len(rows), M) in float64) for consecutive row chunks of ``a``."""
    b = b.double()
    for i in range(0, len(a), chunk):
        rows = slice(i, min(i + chunk, len(a)))
        yield rows, torch.cdist(a[rows].double(), b)


def knn_radii(features: torch.Tensor, k: int = 3, chunk: int = CHUNK) -> torch.Tensor:
    """Distance from each point (N, D) to its k-th nearest other point: (N,) float64."""
    # k + 1: the point itself is its own nearest neighbour
    return torch.cat([d.kthvalue(k + 1, dim=1).values for _, d in _row_chunks(features, features, chunk)])


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = CHUNK) -> dict[str, float]:
    """real (R, D), fake (F, D) features -> precision: share of fakes inside some real k-NN ball; recall: share
    of reals inside some fake ball; density: mean number of real balls holding each fake / k; coverage: share
    of reals whose ball holds a fake."""
    r_real, r_fake = knn_radii(real, k, chunk), knn_radii(fake, k, chunk)
    in_real_balls = torch.zeros(len(fake), dtype=torch.float64)  # per fake: how many real balls hold it
    recalled = torch.zeros(len(real), dtype=torch.bool)  # per real: inside some fake ball
    nearest_fake = torch.full((len(real),), float("inf"), dtype=torch.float64)
    for rows, d in _row_chunks(fake, real, chunk):  # d: (fakes of this chunk, R)
        in_real_balls[rows] = (d <= r_real[None, :]).sum(1).double()
        recalled |= (d <= r_fake[rows, None]).any(0)
        nearest_fake = torch.minimum(nearest_fake, d.min(0).values)
    return {"precision": float((in_real_balls > 0).double().mean()), "recall": float(recalled.double().mean()),
            "density": float(in_real_balls.mean() / k), "coverage": float((nearest_fake <= r_real).double().mean()),
            "k": k}
