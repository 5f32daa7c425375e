"""The validation split: the dataset's own where it has one, else a fixed part carved from the training split.

Carving uses a permutation from a fixed seed (0), never the run's seed, so every run on a dataset validates on
the same images, and the carved images are removed from training. The test split is never used.
"""
from __future__ import annotations

import dataclasses

import torch

from .dataset import ImageDataset

CARVE_SEED = 0
MAX_CARVED_FRACTION = 0.1


def carve_validation(train: ImageDataset, size: int) -> tuple[ImageDataset, ImageDataset]:
    """(train minus the carved images, the carved images) with min(size, 10% of train) images carved; both
    keep their original order; the carved part's info says split 'valid-carved'."""
    n = min(size, int(len(train) * MAX_CARVED_FRACTION))
    if n < 1:
        raise ValueError(f"cannot carve a validation split from {len(train)} training samples")
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(CARVE_SEED))
    valid_idx, train_idx = perm[:n].sort().values, perm[n:].sort().values
    rest = train.subset(train_idx)
    valid = train.subset(valid_idx)
    valid.info = dataclasses.replace(valid.info, split="valid-carved")
    return rest, valid


def spread_subset(data: ImageDataset, n: int) -> ImageDataset:
    """n samples evenly spaced through ``data`` (all when it has fewer): splits are often ordered (the first
    1000 of binarized MNIST's test split carry 30% more ink than the rest), so a prefix is a biased sample."""
    if n >= len(data):
        return data
    step = len(data) / n
    return data.subset(torch.tensor([int(i * step) for i in range(n)]))
