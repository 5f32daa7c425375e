"""Semi-supervised training data: a fixed labelled subset of a labelled training set (exactly ``per_class``
examples of every class, chosen by a seed), served in batches that are a pure function of the step (so resume
needs no state). A model that learns from it sees the labels of that subset only: the trainer hides the labels
of the main batches from it."""
from __future__ import annotations

import hashlib

import torch

from ..errors import DataError
from .dataset import ImageDataset, epoch_order


def labelled_subset(labels: torch.Tensor, per_class: int, num_classes: int, seed: int) -> torch.Tensor:
    """Sorted indices of ``per_class`` examples of each of ``num_classes`` classes, drawn by ``seed``."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    chosen = []
    for c in range(num_classes):
        of_class = order[labels[order] == c][:per_class]
        if len(of_class) < per_class:
            raise DataError(f"class {c} has {len(of_class)} training examples, fewer than labels_per_class "
                            f"{per_class}; lower model.labels_per_class")
        chosen.append(of_class)
    return torch.cat(chosen).sort().values


class LabelledBatches:
    """Batches of the labelled subset: step s gets batch s of an endless sequence of shuffled passes."""

    def __init__(self, data: ImageDataset, per_class: int, seed: int, batch_size: int):
        if data.labels is None or not data.info.num_classes:
            raise DataError(f"semi-supervised training needs labelled data; {data.info.name} has no labels")
        self.data, self.seed = data, seed
        self.index = labelled_subset(data.labels, per_class, data.info.num_classes, seed)
        self.batch_size = min(batch_size, len(self.index))

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x uint8 (B, ...), y (B,)) of global step ``step``."""
        per_pass = len(self.index) // self.batch_size
        epoch, b = divmod(step, per_pass)
        order = epoch_order(len(self.index), self.seed + 1, epoch)
        rows = self.index[order[b * self.batch_size:(b + 1) * self.batch_size]]
        x, y = self.data[rows]
        return x, y

    def record(self) -> dict:
        """What a run records about its labelled subset: the seed, its size, and a hash of the indices."""
        digest = hashlib.sha256(self.index.numpy().tobytes()).hexdigest()[:16]
        return {"label_seed": self.seed, "labelled": len(self.index), "indices_sha256": digest}
