"""Reference rows that say what sample-quality numbers mean on real data: real images against the test
split, and degenerate 'models' (uniform noise, one repeated image, one class only, blurred images)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..data.dataset import ImageDataset


def blur(images: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Gaussian blur of uint8 (N, C, H, W) with a separable kernel (radius 3 sigma) -> uint8."""
    r = max(1, int(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1).float().pow(2) / (2 * sigma**2))
    k = k / k.sum()
    c = images.shape[1]
    x = images.float()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x.round().clamp(0, 255).to(torch.uint8)


def baselines(train: ImageDataset, n: int, seed: int = 0) -> dict[str, Callable[[], torch.Tensor]]:
    """Name -> a function producing n uint8 images (N, C, H, W) for each reference row."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=g)[:n]
    shape = (n, *train.info.shape)

    def one_class() -> torch.Tensor:
        if train.labels is None:
            raise ValueError("the one-class baseline needs labels")
        pool = (train.labels == 0).nonzero().squeeze(1)
        return train.data[pool[torch.randint(0, len(pool), (n,), generator=g)]]

    return {
        "real train images": lambda: train.data[idx],
        "blurred train images (sigma 1.5)": lambda: blur(train.data[idx]),
        "one class only (label 0)": one_class,
        "one repeated image": lambda: train.data[idx[:1]].expand(shape).contiguous(),
        "uniform noise": lambda: torch.randint(0, 256, shape, generator=g, dtype=torch.uint8),
    }
