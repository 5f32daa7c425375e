"""SVHN cropped digits (Netzer et al. 2011), format 2: 73,257 train / 26,032 test RGB 3x32x32, labels 0-9.

The ``.mat`` files hold ``X`` uint8 (32, 32, 3, N) and ``y`` (N, 1) with digit 0 stored as label 10; we map
10 -> 0 as torchvision does. They are MATLAB 5 files, read with dgm's MAT-5 reader (no scipy needed).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import DatasetInfo, ImageDataset
from ..download import RemoteFile
from ..registry import DatasetSpec, register
from .mat5 import read_mat5

# The dataset page is served over plain http; its https endpoint is listed as the only mirror because dgm never
# downloads over http. If it does not answer, the error says where to put the files by hand. The sha256 values
# are those TensorFlow Datasets pins for the two files.
URL = "https://ufldl.stanford.edu/housenumbers/"
SHA256 = {
    "train": "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
    "test": "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
}
NOTE = "get it from http://ufldl.stanford.edu/housenumbers/ (cropped digits, format 2)"


def file_name(split: str) -> str:
    return f"{split}_32x32.mat"


def parse_svhn(path: Path, split: str) -> ImageDataset:
    """An SVHN ``*_32x32.mat`` file -> uint8 (N, 3, 32, 32) images and int64 labels in 0..9."""
    mat = read_mat5(path)
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        found = ", ".join(f"{k} {v.shape}" for k, v in mat.items()) or "no numeric variables"
        raise DataError(f"{path}: expected X (32, 32, 3, N) and y (N, 1), found {found}; fetch it again")
    labels = np.asarray(y).reshape(-1).astype(np.int64)
    if len(labels) != x.shape[3]:
        raise DataError(f"{path}: {x.shape[3]} images but {len(labels)} labels; fetch it again")
    if labels.min() < 0 or labels.max() > 10:
        raise DataError(f"{path}: labels outside 1..10 ({labels.min()}..{labels.max()}); fetch it again")
    labels[labels == 10] = 0  # SVHN stores the digit 0 as class 10
    data = x.transpose(3, 2, 0, 1).astype(np.uint8, order="C")  # (H, W, C, N) -> (N, C, H, W), a fresh copy
    info = DatasetInfo(name="svhn", split=split, shape=(3, 32, 32), num_classes=10)
    return ImageDataset(torch.from_numpy(data), torch.from_numpy(labels), info)


register(
    DatasetSpec(
        name="svhn",
        parse=lambda paths, split: parse_svhn(paths[file_name(split)], split),
        files={s: (RemoteFile(file_name(s), (URL + file_name(s),), sha, note=NOTE),) for s, sha in SHA256.items()},
        description="SVHN cropped house-number digits, 73k/26k, 3x32x32 (Netzer et al. 2011)",
    )
)
