"""Nearest training neighbours of samples: a grid to spot memorised copies."""
from __future__ import annotations

import torch


@torch.no_grad()
def nearest_neighbours(queries: torch.Tensor, pool: torch.Tensor, k: int = 5, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """queries (Q, D), pool (N, D) -> (distances (Q, k), indices (Q, k)) of the k nearest pool rows (L2)."""
    q = queries.float()
    best_d = torch.full((len(q), k), float("inf"))
    best_i = torch.zeros((len(q), k), dtype=torch.long)
    for s in range(0, len(pool), chunk):
        d = torch.cdist(q, pool[s : s + chunk].float())
        cand_d = torch.cat([best_d, d], 1)
        cand_i = torch.cat([best_i, torch.arange(s, s + d.shape[1]).expand(len(q), -1)], 1)
        best_d, order = cand_d.topk(k, dim=1, largest=False)
        best_i = cand_i.gather(1, order)
    return best_d, best_i


def neighbour_grid(samples: torch.Tensor, train: torch.Tensor, k: int = 5,
                   features: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """samples float (S, C, H, W) in [0, 1], train uint8 (N, C, H, W) -> (images ((S * (k+1)), C, H, W), distances).

    Each row is a sample followed by its k nearest training images, in pixel space unless ``features``
    (sample features, training features) are given."""
    if features is None:
        q, pool = samples.flatten(1), train.flatten(1).float() / 255.0
    else:
        q, pool = features
    dist, idx = nearest_neighbours(q, pool, k)
    rows = [torch.cat([samples[i : i + 1].float(), train[idx[i]].float() / 255.0]) for i in range(len(samples))]
    return torch.cat(rows), dist
