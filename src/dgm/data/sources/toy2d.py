"""Generated 2-D toy distributions (no files): ring8, grid25, swissroll, moons, checkerboard, spirals."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch

from ..dataset import DatasetInfo, ImageDataset
from ..registry import DatasetSpec, register

SIZES = {"train": 50_000, "test": 10_000}
SEEDS = {"train": 0, "test": 1}


def ring8(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """8 Gaussians (std 0.02) on a circle of radius 2; label = mode index."""
    k = torch.randint(0, 8, (n,), generator=g)
    angle = k.float() * (2 * math.pi / 8)
    centres = 2.0 * torch.stack([angle.cos(), angle.sin()], 1)
    return centres + 0.02 * torch.randn(n, 2, generator=g), k


def grid25(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A 5x5 grid of Gaussians (std 0.05) at {-4,-2,0,2,4}^2; label = mode index."""
    k = torch.randint(0, 25, (n,), generator=g)
    centres = torch.stack([(k // 5).float() * 2 - 4, (k % 5).float() * 2 - 4], 1)
    return centres + 0.05 * torch.randn(n, 2, generator=g), k


def swissroll(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2-D swiss roll scaled to about [-2, 2]^2 with noise 0.05."""
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = torch.stack([t * t.cos(), t * t.sin()], 1) / 7.5
    return x + 0.05 * torch.randn(n, 2, generator=g), torch.zeros(n, dtype=torch.long)


def moons(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles with noise 0.05; label = moon."""
    k = torch.randint(0, 2, (n,), generator=g)
    t = math.pi * torch.rand(n, generator=g)
    upper = torch.stack([t.cos(), t.sin()], 1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)
    x = torch.where(k[:, None] == 0, upper, lower) - torch.tensor([0.5, 0.25])
    return x + 0.05 * torch.randn(n, 2, generator=g), k


def checkerboard(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform on the dark squares of a 4x4 checkerboard over [-2, 2]^2."""
    x1 = torch.rand(n, generator=g) * 4 - 2
    x2 = torch.rand(n, generator=g) - torch.randint(0, 2, (n,), generator=g).float() * 2
    x2 = x2 + (torch.floor(x1) % 2)
    return torch.stack([x1, x2], 1) * 1.0, torch.zeros(n, dtype=torch.long)


def spirals(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals with noise 0.05; label = spiral."""
    k = torch.randint(0, 2, (n,), generator=g)
    t = torch.sqrt(torch.rand(n, generator=g)) * 3 * math.pi
    r = t / (3 * math.pi) * 2
    sign = 1 - 2 * k.float()
    x = sign[:, None] * torch.stack([r * t.cos(), r * t.sin()], 1)
    return x + 0.05 * torch.randn(n, 2, generator=g), k


GENERATORS: dict[str, tuple[Callable, int]] = {
    "ring8": (ring8, 8), "grid25": (grid25, 25), "swissroll": (swissroll, 0),
    "moons": (moons, 2), "checkerboard": (checkerboard, 0), "spirals": (spirals, 2),
}


def _make_spec(name: str, fn: Callable, classes: int) -> DatasetSpec:
    def parse(paths: dict[str, Path], split: str) -> ImageDataset:
        g = torch.Generator().manual_seed(SEEDS[split])
        x, y = fn(SIZES[split], g)
        info = DatasetInfo(name=name, split=split, shape=(2,), num_classes=classes, kind="points")
        return ImageDataset(x.float().contiguous(), y, info)

    return DatasetSpec(name=name, parse=parse, offline=True, description=f"2-D toy: {(fn.__doc__ or '').strip()}")


for _name, (_fn, _k) in GENERATORS.items():
    register(_make_spec(_name, _fn, _k))
