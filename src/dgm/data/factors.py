"""Ground-truth factors of variation next to a dataset's images (dSprites): names, value tables, per-sample
indices, and the inverse map from a factor tuple to the sample that shows it (what disentanglement metrics use
to draw images with one factor held fixed)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import DataError


@dataclass(frozen=True)
class Factors:
    """Factors of a dataset: ``indices`` (N, K) int64, sample n's index into each factor's value table.

    names: K factor names; values: K 1-D float tensors (factor k's values, ``len(values[k])`` = its size).
    """

    names: tuple[str, ...]
    values: tuple[torch.Tensor, ...]
    indices: torch.Tensor

    def __post_init__(self):
        if len(self.names) != len(self.values) or self.indices.dim() != 2 or self.indices.shape[1] != len(self.names):
            raise DataError(f"factors: {len(self.names)} names, {len(self.values)} value tables and indices of shape "
                            f"{tuple(self.indices.shape)} do not agree")
        object.__setattr__(self, "indices", self.indices.to(torch.int64))
        if len(self.indices) and ((self.indices < 0).any() or (self.indices >= self.sizes_tensor).any()):
            raise DataError("factors: an index lies outside its factor's value table")

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of values of each factor."""
        return tuple(len(v) for v in self.values)

    @property
    def sizes_tensor(self) -> torch.Tensor:
        return torch.tensor(self.sizes, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def subset(self, index: torch.Tensor | slice) -> "Factors":
        """The factors of the chosen samples."""
        return Factors(self.names, self.values, self.indices[index])

    def as_values(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, K) factor indices -> (B, K) float factor values."""
        return torch.stack([self.values[k][indices[:, k]] for k in range(len(self.names))], 1)

    def _codes(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, K) indices -> (B,) one integer per factor tuple (mixed radix over the sizes)."""
        radix = torch.ones(len(self.names), dtype=torch.int64)
        for k in range(len(self.names) - 2, -1, -1):
            radix[k] = radix[k + 1] * self.sizes[k + 1]
        return (indices.to(torch.int64) * radix).sum(1)

    def rows_of(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, K) factor indices -> (B,) rows of the samples showing them (DataError if a tuple is absent)."""
        cache = self.__dict__.get("_lookup")
        if cache is None:
            codes = self._codes(self.indices)
            sorted_codes, order = torch.sort(codes)
            cache = (sorted_codes, order)
            object.__setattr__(self, "_lookup", cache)
        sorted_codes, order = cache
        want = self._codes(indices)
        pos = torch.searchsorted(sorted_codes, want).clamp(max=len(sorted_codes) - 1)
        if not bool((sorted_codes[pos] == want).all()):
            raise DataError("factors: a requested factor combination is not in this dataset (a subset?); "
                            "draw factors with Factors.draw, which only returns present ones")
        return order[pos]

    def rows_with(self, k: int, values: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) value indices of factor k -> (B,) random rows whose factor k has that value (uniform among them)."""
        cache = self.__dict__.setdefault("_by_factor", {})
        if k not in cache:
            column = self.indices[:, k]
            order = torch.argsort(column, stable=True)
            counts = torch.bincount(column, minlength=self.sizes[k])
            cache[k] = (order, torch.cumsum(counts, 0) - counts, counts)
        order, starts, counts = cache[k]
        values = values.to(torch.int64)
        if bool((counts[values] == 0).any()):
            raise DataError(f"factors: no sample has one of the requested values of {self.names[k]}")
        offset = (torch.rand(len(values), generator=generator, dtype=torch.float64) * counts[values]).long()
        return order[starts[values] + offset.clamp(max=counts[values] - 1)]

    def random_rows(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n,) rows drawn uniformly with replacement."""
        return torch.randint(0, len(self.indices), (n,), generator=generator)
