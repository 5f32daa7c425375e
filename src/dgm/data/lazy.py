"""Images made on demand: a dataset too large to hold as uint8 (dSprites: 737,280 x 64 x 64 = 3 GB) keeps a
small source (factor indices to render from, or bit-packed pixels) and materialises only the batches asked for.
It stands where an ImageDataset holds its uint8 tensor: indexing returns real uint8 tensors, ``select`` a view."""
from __future__ import annotations

from typing import Callable

import torch


class LazyImages:
    """``n`` images of ``shape`` (C, H, W) uint8, produced by ``make(rows) -> (B, C, H, W)`` from the rows of a source.

    rows: the source rows this view covers (a view of a view composes them); ``key``: a string naming the source and
    its version (the dataset's checksum hashes it with the rows, as it hashes pixels elsewhere).
    """

    dtype = torch.uint8

    def __init__(self, make: Callable[[torch.Tensor], torch.Tensor], n: int, shape: tuple[int, int, int], key: str,
                 rows: torch.Tensor | None = None):
        self.make, self.key, self.image_shape = make, key, tuple(shape)
        self.rows = torch.arange(n, dtype=torch.int64) if rows is None else rows.to(torch.int64)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), *self.image_shape))

    def dim(self) -> int:
        return 1 + len(self.image_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def contiguous(self) -> "LazyImages":
        return self

    def __getitem__(self, index) -> torch.Tensor:
        """index: int, slice or LongTensor -> uint8 images (one image for an int), made now."""
        if isinstance(index, int):
            return self.make(self.rows[index:index + 1] if index >= 0 else self.rows[index:][:1])[0]
        return self.make(self.rows[index])

    def select(self, index: torch.Tensor | slice) -> "LazyImages":
        """A view of some of the images, made only when indexed."""
        return LazyImages(self.make, 0, self.image_shape, self.key, rows=self.rows[index])

    def materialize(self) -> torch.Tensor:
        """All images as one uint8 tensor (only for small views: n x C x H x W bytes)."""
        return self[:]
