"""dSprites (Matthey et al. 2017): 64x64 binary images of one white shape, every combination of its factors
(3 shapes x 6 scales x 40 orientations x 32 x 32 positions = 737,280) exactly once, in a fixed order (the last
factor, position y, varies fastest). Two datasets share the factor grid:

- ``dsprites``: the original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (DeepMind), read with
  ``allow_pickle=False`` (its pickled ``metadata`` member is never opened: the factor tables come from the
  ``latents_values`` array) and held bit-packed (377 MB instead of 3 GB), unpacked per batch;
- ``dsprites-gen``: the same grid rendered by dgm itself, offline and deterministically, from the factor
  indices of each batch (a few MB resident). A re-rendering, not the original pixels: the shapes, their size
  and the margins are dgm's (documented below), so figures on it are not the original dataset's.

Both expose ``data.factors`` (names shape, scale, orientation, pos_x, pos_y; the original's constant colour
factor is dropped) and have one split, ``train``, as the original.
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import DatasetInfo, ImageDataset
from ..download import RemoteFile
from ..factors import Factors
from ..lazy import LazyImages
from ..registry import DatasetSpec, register

FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
URL = "https://github.com/deepmind/dsprites-dataset/raw/master/" + FILE
# The upstream repository's own id of the file (git blob sha1: sha1 of "blob <size>\0" + bytes); no sha256 is
# published, and this machine has no way to download the file and compute one.
GIT_BLOB_SHA1 = "d98996d3f8ee1550e06b9d4ed78d0beb478910d5"

NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
SHAPES = ("square", "ellipse", "heart")
SIZES = (3, 6, 40, 32, 32)
SIZE = 64
# dsprites-gen's geometry (pixels): a shape at scale 1 has half-size RADIUS; centres span [MARGIN, 64 - MARGIN]
# so that a square rotated by 45 degrees (radius RADIUS * sqrt 2) stays inside the image.
RADIUS = 10.0
MARGIN = 15.0
GEN_VERSION = "dsprites-gen/1"  # bump when the renderer changes: cached features are keyed by it


def gen_values() -> tuple[torch.Tensor, ...]:
    """dsprites-gen's factor value tables: shape ids, scales in [0.5, 1], angles in [0, 2 pi), positions in [0, 1]."""
    return (torch.arange(3, dtype=torch.float64), torch.linspace(0.5, 1.0, 6, dtype=torch.float64),
            torch.arange(40, dtype=torch.float64) * (2 * math.pi / 40),
            torch.linspace(0.0, 1.0, 32, dtype=torch.float64), torch.linspace(0.0, 1.0, 32, dtype=torch.float64))


def grid_indices(rows: torch.Tensor) -> torch.Tensor:
    """(B,) rows of the grid -> (B, 5) factor indices (position y varies fastest)."""
    out = torch.empty(len(rows), len(SIZES), dtype=torch.int64)
    rest = rows.to(torch.int64)
    for k in range(len(SIZES) - 1, -1, -1):
        out[:, k] = rest % SIZES[k]
        rest = rest // SIZES[k]
    return out


def render(indices: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """(B, 5) factor indices -> (B, 1, 64, 64) uint8 in {0, 1}: pixel on when its centre lies inside the shape.

    pos_x moves the shape right (columns), pos_y down (rows); orientation turns it counter-clockwise on screen.
    """
    if indices.dim() != 2 or indices.shape[1] != len(SIZES):
        raise DataError(f"dsprites-gen: factor indices must be (B, 5), got {tuple(indices.shape)}")
    values = gen_values()
    parts = []
    pixel = torch.arange(SIZE, dtype=torch.float64) + 0.5
    for idx in indices.split(chunk):
        scale, angle, px, py = (values[k][idx[:, k]] for k in range(1, len(SIZES)))
        cx = MARGIN + px * (SIZE - 2 * MARGIN)
        cy = MARGIN + py * (SIZE - 2 * MARGIN)
        dx = pixel[None, None, :] - cx[:, None, None]           # (B, 1, W)
        up = -(pixel[None, :, None] - cy[:, None, None])         # (B, H, 1): screen up is positive
        cos, sin, r = angle.cos()[:, None, None], angle.sin()[:, None, None], (RADIUS * scale)[:, None, None]
        u = (cos * dx + sin * up) / r                            # coordinates in the shape's own frame
        v = (-sin * dx + cos * up) / r
        square = torch.maximum(u.abs(), v.abs()) <= 1
        ellipse = u * u + (v / 0.5) ** 2 <= 1
        hu, hv = 1.15 * u, 1.15 * v + 0.118                      # the heart curve, centred in its box
        heart = (hu * hu + hv * hv - 1) ** 3 - hu * hu * hv ** 3 <= 0
        s = idx[:, 0, None, None]
        inside = torch.where(s == 0, square, torch.where(s == 1, ellipse, heart))
        parts.append(inside.to(torch.uint8)[:, None])
    if not parts:
        return torch.empty(0, 1, SIZE, SIZE, dtype=torch.uint8)
    return torch.cat(parts)


def _parse_gen(paths: dict[str, Path], split: str) -> ImageDataset:
    n = int(np.prod(SIZES))
    images = LazyImages(lambda rows: render(grid_indices(rows)), n, (1, SIZE, SIZE), key=GEN_VERSION)
    factors = Factors(NAMES, gen_values(), grid_indices(torch.arange(n)))
    info = DatasetInfo(name="dsprites-gen", split=split, shape=(1, SIZE, SIZE), kind="binary")
    return ImageDataset(images, None, info, factors=factors)


def _read_npy_rows(member, packed: np.ndarray, chunk: int = 16384) -> None:
    """Stream a (N, 64, 64) uint8 .npy member of 0/1 pixels into ``packed`` (N, 512) bit-packed rows."""
    version = np.lib.format.read_magic(member)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(member)
    if tuple(shape) != (len(packed), SIZE, SIZE) or dtype != np.uint8 or fortran:
        raise DataError(f"{FILE}: imgs is {dtype} {tuple(shape)}, expected uint8 ({len(packed)}, 64, 64); "
                        "fetch the file again")
    per = SIZE * SIZE
    for start in range(0, len(packed), chunk):
        rows = min(chunk, len(packed) - start)
        raw = member.read(rows * per)
        if len(raw) != rows * per:
            raise DataError(f"{FILE}: imgs ends early (truncated file); fetch it again")
        block = np.frombuffer(raw, dtype=np.uint8).reshape(rows, per)
        if block.max(initial=0) > 1:
            raise DataError(f"{FILE}: imgs holds values other than 0 and 1; fetch the file again")
        packed[start:start + rows] = np.packbits(block, axis=1)


def load_original(path: Path) -> ImageDataset:
    """The original npz -> ImageDataset of bit-packed images unpacked per batch, with its factors."""
    n = int(np.prod(SIZES))
    try:
        with np.load(path, allow_pickle=False) as z:
            classes = z["latents_classes"]
            values = z["latents_values"]
        with zipfile.ZipFile(path) as zf, zf.open("imgs.npy") as member:
            packed = np.empty((n, SIZE * SIZE // 8), dtype=np.uint8)
            _read_npy_rows(member, packed)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable dSprites npz ({e}); fetch it again") from None
    if classes.shape != (n, 6) or values.shape != (n, 6):
        raise DataError(f"{path}: latents of shape {classes.shape}, expected ({n}, 6); fetch it again")
    classes = torch.from_numpy(classes.astype(np.int64))
    if bool((classes[:, 0] != 0).any()) or not torch.equal(classes[:, 1:], grid_indices(torch.arange(n))):
        raise DataError(f"{path}: its factor order is not dSprites' (colour, shape, scale, orientation, x, y, "
                        "y fastest); fetch it again")
    tables = tuple(torch.from_numpy(np.unique(values[:, k + 1])) for k in range(len(SIZES)))
    if tuple(len(t) for t in tables) != SIZES:
        raise DataError(f"{path}: factor value tables of sizes {[len(t) for t in tables]}, expected {list(SIZES)}")
    bits = torch.from_numpy(packed)

    def unpack(rows: torch.Tensor) -> torch.Tensor:
        out = np.unpackbits(bits[rows].numpy(), axis=1)
        return torch.from_numpy(out).view(-1, 1, SIZE, SIZE)

    images = LazyImages(unpack, n, (1, SIZE, SIZE), key=f"dsprites/{GIT_BLOB_SHA1}")
    info = DatasetInfo(name="dsprites", split="train", shape=(1, SIZE, SIZE), kind="binary")
    return ImageDataset(images, None, info, factors=Factors(NAMES, tables, classes[:, 1:]))


def _parse_original(paths: dict[str, Path], split: str) -> ImageDataset:
    return load_original(paths[FILE])


register(DatasetSpec(
    name="dsprites", parse=_parse_original, splits=("train",),
    files={"train": (RemoteFile(FILE, (URL,), sha256="", git_blob_sha1=GIT_BLOB_SHA1),)},
    description="dSprites (DeepMind): 737,280 64x64 binary shapes with 5 ground-truth factors; 26 MB download",
))
register(DatasetSpec(
    name="dsprites-gen", parse=_parse_gen, splits=("train",), offline=True,
    description="dSprites' factor grid re-rendered by dgm (offline, deterministic; not the original pixels)",
))
