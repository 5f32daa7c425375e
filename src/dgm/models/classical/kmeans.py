"""k-means++ seeding (Arthur and Vassilvitskii 2007): the initial centres of the mixtures fitted by EM."""
from __future__ import annotations

import torch


def squared_distances(x: torch.Tensor, centres: torch.Tensor, x_norms: torch.Tensor | None = None) -> torch.Tensor:
    """x (N, D), centres (K, D) -> (N, K) squared Euclidean distances, never negative; ``x_norms`` (N, 1): the
    rows' squared norms when the caller has them."""
    if x.shape[1] <= 8:  # few dimensions: the exact difference form costs little
        return (x[:, None, :] - centres[None]).pow(2).sum(-1)
    if x_norms is None:
        x_norms = x.pow(2).sum(1, keepdim=True)
    return (x_norms - 2 * x @ centres.T + centres.pow(2).sum(1)).clamp_min(0)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices (k,) long of k rows of x (N, D), on the CPU, chosen as k-means++ seeds: the first uniformly, each next one with
    probability proportional to its squared distance to the nearest seed chosen so far (a point equal to a
    chosen seed is never chosen again while others remain)."""
    n = x.shape[0]
    if k > n:
        raise ValueError(f"k-means++ needs at least k={k} points, got {n}")
    norms = x.pow(2).sum(1, keepdim=True)
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    nearest = squared_distances(x, x[chosen], norms).squeeze(1)
    for _ in range(1, k):
        total = float(nearest.sum())
        if total > 0:
            i = int(torch.multinomial(nearest / total, 1, generator=generator))
        else:  # every point sits on a seed already (duplicates): any unchosen point
            rest = torch.ones(n, dtype=torch.bool)
            rest[chosen] = False
            i = int(rest.nonzero()[int(torch.randint(int(rest.sum()), (1,), generator=generator))])
        chosen.append(i)
        nearest = torch.minimum(nearest, squared_distances(x, x[i:i + 1], norms).squeeze(1))
    return torch.tensor(chosen, dtype=torch.long)
