"""Binarized MNIST with the fixed binarisation of Larochelle & Murray (2011): 50k/10k/10k, 1x28x28, values 0/1.

Each split is a text ``.amat`` file, one image per line: 784 values ``0``/``1`` separated by single spaces
(1568 bytes with the newline). The files may be stored gzipped (``.amat.gz``); the pinned sha256 values are of
the uncompressed originals, which is what a download produces.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import DatasetInfo, ImageDataset
from ..download import RemoteFile
from ..registry import DatasetSpec, register
from .idx import read_bytes

URL = "https://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
SHA256 = {
    "train": "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
    "valid": "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
    "test": "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
}
PIXELS = 784
LINE = 2 * PIXELS  # "d d d ... d\n": one digit and one separator per pixel


def file_name(split: str) -> str:
    return f"binarized_mnist_{split}.amat"


def parse_amat(raw: bytes, path: Path) -> np.ndarray:
    """Text rows of 784 ``0``/``1`` values -> uint8 (N, 784) in {0, 1}; DataError naming the first bad line."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    if len(arr) and len(arr) % LINE == 0:
        rows = arr.reshape(-1, LINE)
        seps = rows[:, 1::2]
        if (seps[:, :-1] == ord(" ")).all() and (seps[:, -1] == ord("\n")).all():
            digits = rows[:, 0::2] - ord("0")  # the canonical layout: every other byte is a digit
            bad = np.nonzero((digits > 1).any(axis=1))[0]  # uint8 wrap-around makes chars below '0' large too
            if len(bad):
                raise DataError(f"{path}: line {bad[0] + 1} has a value other than 0 or 1; fetch the file again")
            return digits
    return _parse_loose(raw, path)


def _parse_loose(raw: bytes, path: Path) -> np.ndarray:
    """Slower path for other whitespace (CRLF, tabs, trailing spaces): one line at a time."""
    lines = [ln for ln in raw.replace(b"\r", b"").split(b"\n") if ln.strip()]
    if not lines:
        raise DataError(f"{path} is empty; fetch it again")
    out = np.empty((len(lines), PIXELS), dtype=np.uint8)
    for i, ln in enumerate(lines):
        values = ln.split()
        if len(values) != PIXELS:
            raise DataError(f"{path}: line {i + 1} has {len(values)} values, expected {PIXELS}; fetch the file again")
        row = np.frombuffer(b"".join(values), dtype=np.uint8) - ord("0")
        if len(row) != PIXELS or (row > 1).any():
            raise DataError(f"{path}: line {i + 1} has a value other than 0 or 1; fetch the file again")
        out[i] = row
    return out


def _parse(paths: dict[str, Path], split: str) -> ImageDataset:
    path = paths[file_name(split)]
    x = parse_amat(read_bytes(path), path)
    data = torch.from_numpy(x.reshape(-1, 1, 28, 28))
    info = DatasetInfo(name="binarized-mnist", split=split, shape=(1, 28, 28), num_classes=0, kind="binary")
    return ImageDataset(data, None, info)


register(
    DatasetSpec(
        name="binarized-mnist",
        folder="binarized-mnist",
        parse=_parse,
        splits=("train", "valid", "test"),
        files={s: (RemoteFile(file_name(s), (URL + file_name(s),), sha),) for s, sha in SHA256.items()},
        description="MNIST with the fixed binarisation of Larochelle & Murray 2011, 50k/10k/10k, 1x28x28 in {0,1}",
    )
)
