"""The in-memory dataset: uint8 images (N, C, H, W) or float points (N, 2), int64 labels, an info record."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Iterator

import torch

from ..errors import DataError
from .factors import Factors
from .lazy import LazyImages


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about its data: name, split, sample shape, classes and kind."""

    name: str
    split: str
    shape: tuple[int, ...]  # (C, H, W) for images, (2,) for points, (L,) for code sequences
    num_classes: int = 0
    kind: str = "image"  # "image" (uint8 0..255), "binary" (uint8 0/1), "points" (float32) or "codes" (int16)
    size: int = 0
    # kind "codes": where the codes come from (dgm.codes: autoencoder checkpoint and its sha256, num_codes,
    # the (h, w) of each code map, the image dataset); None otherwise
    codes: dict | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetInfo":
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        return cls(**d)


class ImageDataset:
    """Samples held as one tensor; batches are index slices (no per-sample Python).

    data: (N, C, H, W) uint8 with values 0..255 (kind "image") or 0/1 (kind "binary"),
          (N, 2) float32 (kind "points"), or (N, L) int16 code indices (kind "codes", an autoencoder's code
          maps flattened and concatenated, top level first); or a LazyImages that makes uint8 image batches
          when indexed (datasets too large to hold, dSprites). labels: (N,) int64, or None. factors: the
          ground-truth factors of variation of each sample (dSprites), or None.
    """

    def __init__(self, data: torch.Tensor | LazyImages, labels: torch.Tensor | None, info: DatasetInfo,
                 factors: Factors | None = None):
        if info.kind == "points":
            if data.dtype != torch.float32 or data.dim() != 2:
                raise DataError(f"{info.name}: points must be float32 (N, D), got {data.dtype} {tuple(data.shape)}")
        elif info.kind == "codes":
            if data.dtype != torch.int16 or data.dim() != 2:
                raise DataError(f"{info.name}: codes must be int16 (N, L), got {data.dtype} {tuple(data.shape)}")
        elif data.dtype != torch.uint8 or data.dim() != 4:
            raise DataError(f"{info.name}: images must be uint8 (N, C, H, W), got {data.dtype} {tuple(data.shape)}")
        if len(data) == 0:
            raise DataError(f"dataset {info.name} ({info.split}) is empty")
        if labels is not None and len(labels) != len(data):
            raise DataError(f"{info.name}: {len(labels)} labels for {len(data)} samples")
        if factors is not None and len(factors) != len(data):
            raise DataError(f"{info.name}: factors of {len(factors)} samples for {len(data)} samples")
        self.data = data.contiguous()
        self.labels = labels.to(torch.int64) if labels is not None else None
        self.factors = factors  # ground-truth factors of variation (dSprites), or None
        self.info = dataclasses.replace(info, shape=tuple(data.shape[1:]), size=len(data))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index) -> tuple[torch.Tensor, torch.Tensor | None]:
        """index: int, slice or LongTensor -> (samples, labels or None)."""
        return self.data[index], (self.labels[index] if self.labels is not None else None)

    def subset(self, index: torch.Tensor | slice) -> "ImageDataset":
        """A dataset of the chosen samples (e.g. ``ds.subset(slice(0, 1000))``)."""
        data = self.data.select(index) if isinstance(self.data, LazyImages) else self.data[index]
        return ImageDataset(data, self.labels[index] if self.labels is not None else None, self.info,
                            self.factors.subset(index) if self.factors is not None else None)

    def checksum(self) -> str:
        """sha256 of the samples and labels, to key caches of features computed on this data."""
        if isinstance(self.data, LazyImages):  # images made from a versioned source: hash the source and the rows
            h = hashlib.sha256(self.data.key.encode() + self.data.rows.numpy().tobytes())
        else:
            h = hashlib.sha256(self.data.numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.numpy().tobytes())
        return h.hexdigest()


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of one epoch: a pure function of (seed, epoch), so resume needs no state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def iterate_batches(
    ds: ImageDataset, batch_size: int, seed: int, start_epoch: int = 0, start_batch: int = 0, drop_last: bool = True
) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor | None]]:
    """Yield (epoch, batch_index, x, y) forever, shuffled per epoch, starting at a saved position."""
    n = len(ds)
    per_epoch = n // batch_size if drop_last else -(-n // batch_size)
    if per_epoch == 0:
        raise DataError(
            f"dataset has {n} samples < batch_size {batch_size}; lower --batch-size or use more data"
        )
    epoch, b = start_epoch, start_batch
    while True:
        order = epoch_order(n, seed, epoch)
        while b < per_epoch:
            idx = order[b * batch_size : (b + 1) * batch_size]
            x, y = ds[idx]
            yield epoch, b, x, y
            b += 1
        epoch, b = epoch + 1, 0
