"""Batch-level transforms from stored uint8 data to what a model consumes; all vectorised.

Each registered input transform maps x: (B, C, H, W) uint8 -> float tensor, taking a torch.Generator for
its randomness so that training resumes exactly.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..registry import Registry

InputTransform = Callable[[torch.Tensor, "torch.Generator | None", bool], torch.Tensor]
input_transforms: Registry[InputTransform] = Registry("input transform")


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """x: uint8 0..255 -> float in [0, 1]."""
    return x.float().div_(255.0)


def as_unit(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Stored samples of a dataset ``kind`` -> float values to compare with a model's [0, 1] outputs: uint8 images
    / 255, binary images and 2-D points as they are."""
    return x.float() if kind in ("binary", "points") else to_unit(x)


def to_symmetric(x: torch.Tensor) -> torch.Tensor:
    """x: uint8 0..255 -> float in [-1, 1]."""
    return x.float().div_(127.5).sub_(1.0)


def binarize(x01: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarisation: each pixel is Bernoulli(x01); x01 in [0, 1] -> {0., 1.}."""
    u = torch.rand(x01.shape, generator=generator, dtype=x01.dtype, device=x01.device)
    return (u < x01).to(x01.dtype)


def dequantize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantisation: uint8 k -> (k + u) / 256 with u ~ U[0, 1), in [0, 1)."""
    u = torch.rand(x.shape, generator=generator, device=x.device)
    return (x.float() + u).div_(256.0)


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image left-right with probability 1/2; x: (B, C, H, W)."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def pad_to(x: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Zero-pad (B, C, H, W) symmetrically to (B, C, size, size), e.g. MNIST 28 -> 32."""
    dh, dw = size - x.shape[-2], size - x.shape[-1]
    if dh < 0 or dw < 0:
        raise ValueError(f"cannot pad {tuple(x.shape[-2:])} to {size}")
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of a float batch (B, C, H, W) to (B, C, size, size)."""
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def resize_dataset(ds, size: int):
    """The dataset with every image at size x size: zero-padded when at most 4 pixels short on each side
    (MNIST 28 -> 32, the usual convention), else bilinearly resized; done once, in chunks, as uint8."""
    from .dataset import ImageDataset

    if ds.info.kind == "points" or ds.data.shape[-2:] == (size, size):
        return ds
    h, w = ds.data.shape[-2:]
    out = []
    for i in range(0, len(ds), 4096):
        chunk = ds.data[i : i + 4096]
        if 0 <= size - h <= 4 and 0 <= size - w <= 4:
            out.append(pad_to(chunk, size))
        else:
            out.append(resize(chunk.float(), size).round().clamp(0, 255).to(torch.uint8))
    return ImageDataset(torch.cat(out), ds.labels, ds.info)


@input_transforms.register("unit", help="uint8 -> [0, 1]")
def _unit(x, generator=None, train=True):
    return x if x.is_floating_point() else to_unit(x)


@input_transforms.register("symmetric", help="uint8 -> [-1, 1]")
def _symmetric(x, generator=None, train=True):
    return x if x.is_floating_point() else to_symmetric(x)


@input_transforms.register("binary", help="dynamically binarised: 8-bit data -> Bernoulli(x/255)")
def _binary(x, generator=None, train=True):
    # 8-bit data only: stored 0/1 datasets (kind "binary", e.g. binarized-mnist) keep their fixed binarisation
    # in GenerativeModel.prepare, decided from the dataset's metadata, never from a batch's values (a dark
    # 8-bit batch may hold only 0s and 1s)
    return x if x.is_floating_point() else binarize(to_unit(x), generator)


@input_transforms.register("dequantized", help="uint8 k -> (k + u) / 256, u ~ U[0, 1)")
def _dequantized(x, generator=None, train=True):
    return x if x.is_floating_point() else dequantize(x, generator)


@input_transforms.register("codes", help="int16 code indices -> int64 (no other change)")
def _codes(x, generator=None, train=True):
    return x.long()
