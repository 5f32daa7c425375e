"""Frey Face (Roweis's "Data for MATLAB hackers"): 1965 grey 28x20 video frames of one face, uint8 1x28x20.

Splits are contiguous because neighbouring frames are near-duplicates: a random split would leak the test set
into training. ``train`` = frames 0..1799, ``test`` = the last 165 frames, ``all`` = all 1965 (as in Kingma &
Welling 2014, who train on every frame).

The file is a MATLAB 5 MAT-file holding one uint8 variable ``ff`` (560, 1965), one face per column, read with
dgm's small MAT-5 reader (no scipy needed).
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

FILE = "frey_rawface.mat"
SHA256 = "265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64"
URLS = (
    "https://cs.nyu.edu/~roweis/data/frey_rawface.mat",
    "https://raw.githubusercontent.com/SheffieldML/GPmat/4b5914a38ecbad9fb7a13a3392970bfc28c9d911/"
    "datasets/data/frey_rawface.mat",
)
HEIGHT, WIDTH, TRAIN = 28, 20, 1800

def _parse(paths: dict[str, Path], split: str) -> ImageDataset:
    path = paths[FILE]
    ff = read_mat5(path).get("ff")
    if ff is None or ff.dtype != np.uint8 or ff.ndim != 2 or ff.shape[0] != HEIGHT * WIDTH:
        found = "no variable ff" if ff is None else f"ff {ff.dtype} {ff.shape}"
        raise DataError(f"{path}: expected a uint8 variable ff of shape (560, N), found {found}; fetch it again")
    faces = np.ascontiguousarray(ff.T).reshape(-1, 1, HEIGHT, WIDTH)  # one face per column, row-major 28x20
    faces = {"train": faces[:TRAIN], "test": faces[TRAIN:], "all": faces}[split]
    info = DatasetInfo(name="frey-faces", split=split, shape=(1, HEIGHT, WIDTH))
    return ImageDataset(torch.from_numpy(faces.copy()), None, info)


register(
    DatasetSpec(
        name="frey-faces",
        folder="frey",
        parse=_parse,
        splits=("train", "test", "all"),
        files={s: (RemoteFile(FILE, URLS, SHA256),) for s in ("train", "test", "all")},
        description="Frey Face video frames, 1x28x20 grey; train 1800 / test 165 contiguous frames (Roweis)",
    )
)
