"""Nearest training neighbours of samples: a grid to spot memorised copies."""
from __future__ import annotations

import torch

from ..data.transforms import as_unit


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


class _UnitRows:
    """Training images as flat [0, 1] rows, converted a chunk at a time (a dataset made per batch, dSprites,
    is never materialised whole)."""

    def __init__(self, images, kind: str):
        self.images, self.kind = images, kind

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> torch.Tensor:
        return as_unit(self.images[index], self.kind).flatten(1)


def neighbour_grid(samples: torch.Tensor, train, k: int = 5,
                   features: tuple[torch.Tensor, torch.Tensor] | None = None, kind: str = "image"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """samples float (S, C, H, W) in [0, 1], train uint8 (N, C, H, W) of dataset ``kind`` (image: 0..255,
    binary: 0/1), a tensor or images made per batch -> (images ((S * (k+1)), C, H, W), distances).

    Each row is a sample followed by its k nearest training images, in pixel space unless ``features``
    (sample features, training features) are given."""
    q, pool = (samples.flatten(1), _UnitRows(train, kind)) if features is None else features
    dist, idx = nearest_neighbours(q, pool, k)
    rows = [torch.cat([samples[i : i + 1].float(), as_unit(train[idx[i]], kind)]) for i in range(len(samples))]
    return torch.cat(rows), dist
