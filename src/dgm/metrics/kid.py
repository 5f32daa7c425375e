"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel."""
from __future__ import annotations

import torch


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef: float = 1.0) -> torch.Tensor:
    """k(x, y) = (x . y / D + coef)^degree for rows of x (N, D), y (M, D) -> (N, M)."""
    return (x @ y.T / x.shape[1] + coef) ** degree


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 estimate: mean off-diagonal k(x, x') + mean off-diagonal k(y, y') - 2 mean k(x, y)."""
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(features_a: torch.Tensor, features_b: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> dict[str, float]:
    """KID as mean and std of the unbiased MMD^2 over random subsets (without replacement within a subset).

    When a set has fewer samples than ``subset_size``, the subset size shrinks to the smaller set (the
    estimator stays unbiased; its variance grows), and the record says which size was used.
    """
    a, b = features_a.double(), features_b.double()
    size = min(subset_size, a.shape[0], b.shape[0])
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([mmd2_unbiased(a[torch.randperm(a.shape[0], generator=g)[:size]],
                                         b[torch.randperm(b.shape[0], generator=g)[:size]])
                           for _ in range(subsets)])
    return {"kid_mean": float(values.mean()), "kid_std": float(values.std()) if subsets > 1 else 0.0,
            "subset_size": size, "subsets": subsets}
