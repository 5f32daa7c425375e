"""CelebA aligned faces (Liu et al. 2015) as 3x64x64 RGB: 162,770 train / 19,867 valid / 19,962 test.

Each 178x218 aligned image is center-cropped to 140x140 (the crop of DCGAN/BEGAN-style CelebA-64 pipelines, which
keeps the face and drops most background) and resized to 64x64 with Pillow's antialiased bicubic filter.

CelebA is distributed through Google Drive, which dgm does not script. Put ``list_eval_partition.txt`` and either
the ``img_align_celeba/`` folder or ``img_align_celeba.zip`` in ``<data-dir>/celeba/``. Decoding ~200k JPEGs takes
minutes, so each decoded split is cached next to the data as ``celeba64_<split>.npy`` (ignored when not writable).
"""
from __future__ import annotations

import logging
import os
import sys
import zipfile
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import DatasetInfo, ImageDataset
from ..download import RemoteFile
from ..registry import DatasetSpec, register
from .idx import read_bytes

log = logging.getLogger(__name__)

CROP, SIZE = 140, 64
SPLITS = {"train": 0, "valid": 1, "test": 2}
PARTITION = "list_eval_partition.txt"
HOWTO = (
    "download img_align_celeba.zip and list_eval_partition.txt from "
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive, 'Align&Cropped Images' and 'Eval') "
    "and put them (the zip or its extracted img_align_celeba/ folder) in the celeba data folder"
)
# sha256 of list_eval_partition.txt (2,836,386 bytes) as pinned by TensorFlow Datasets; its table names Drive ids,
# not file names, so the match is by size. It is never downloaded, only recorded.
PARTITION_SHA256 = "fc955bcb3ef8fbdf7d5640d9a8693a8431b5f2ee291a5c1449a1549e7e073fe7"


def _plain_name(name: str) -> bool:
    """A bare file name: the partition file must not steer reads outside the image folder."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name


def read_partition(path: Path) -> dict[str, list[str]]:
    """``list_eval_partition.txt`` ("000001.jpg 0" per line) -> image names per split, in file order."""
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    codes = {str(v): k for k, v in SPLITS.items()}
    for i, line in enumerate(read_bytes(path).decode("latin1").splitlines()):
        parts = line.replace(",", " ").split()
        if not parts or parts[0] == "image_id":  # blank lines; the header of Kaggle's CSV variant
            continue
        if len(parts) != 2 or parts[1] not in codes or not _plain_name(parts[0]):
            raise DataError(f"{path}: line {i + 1} is not '<image>.jpg 0|1|2'; fetch the file again")
        out[codes[parts[1]]].append(parts[0])
    return out


def crop_resize(raw: bytes, name: str) -> np.ndarray:
    """JPEG bytes -> uint8 (3, 64, 64): center crop 140x140, antialiased bicubic resize."""
    from PIL import Image

    try:
        with Image.open(BytesIO(raw)) as img:
            img = img.convert("RGB")
            w, h = img.size
            left, top = (w - CROP) // 2, (h - CROP) // 2
            box = (max(left, 0), max(top, 0), min(left + CROP, w), min(top + CROP, h))
            img = img.resize((SIZE, SIZE), Image.Resampling.BICUBIC, box=box)
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"celeba image {name} is unreadable ({e}); restore it from the original zip") from None


def _image_reader(folder: Path):
    """A function name -> JPEG bytes, from img_align_celeba/ or img_align_celeba.zip in ``folder``."""
    d = folder / "img_align_celeba"
    if d.is_dir():
        def from_dir(name: str) -> bytes:
            try:
                return (d / name).read_bytes()
            except OSError:
                raise DataError(f"celeba: {d / name} is missing; {HOWTO}") from None
        return from_dir
    z = folder / "img_align_celeba.zip"
    if z.is_file():
        try:
            zf = zipfile.ZipFile(z)
        except (zipfile.BadZipFile, OSError) as e:
            raise DataError(f"{z} is truncated or corrupt ({e}); download it again") from None
        members = {n.rsplit("/", 1)[-1]: n for n in zf.namelist() if n.lower().endswith(".jpg")}

        def from_zip(name: str) -> bytes:
            if name not in members:
                raise DataError(f"celeba: {name} is missing from {z}; download it again")
            try:
                return zf.read(members[name])
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                raise DataError(f"{z} is corrupt at {name} ({e}); download it again") from None
        return from_zip
    raise DataError(f"celeba: no img_align_celeba/ folder or img_align_celeba.zip in {folder}; {HOWTO}")


def _save_cache(path: Path, x: np.ndarray) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.save(f, x)
        os.replace(tmp, path)
    except OSError as e:  # read-only data folder: the cache is an optimisation only
        log.info("not caching %s: %s", path, e)
        tmp.unlink(missing_ok=True)


def _parse(paths: dict[str, Path], split: str) -> ImageDataset:
    part = paths[PARTITION]
    folder = part.parent
    cache = folder / f"celeba{SIZE}_{split}.npy"
    names = read_partition(part)[split]
    if not names:
        raise DataError(f"{part} lists no {split} images; fetch the file again")
    x = None
    if cache.is_file():
        try:
            x = np.load(cache, allow_pickle=False)  # never pickle: the cache is plain uint8
        except (OSError, ValueError):
            x = None
        if x is not None and (x.dtype != np.uint8 or x.shape != (len(names), 3, SIZE, SIZE)):
            x = None
    if x is None:
        read = _image_reader(folder)
        x = np.empty((len(names), 3, SIZE, SIZE), dtype=np.uint8)
        from tqdm import tqdm

        bar = tqdm(names, desc=f"celeba {split}", unit="img", leave=False, disable=not sys.stderr.isatty())
        for i, name in enumerate(bar):  # decoding is per image; everything after it is one array
            x[i] = crop_resize(read(name), name)
        _save_cache(cache, x)
    info = DatasetInfo(name="celeba", split=split, shape=(3, SIZE, SIZE))
    return ImageDataset(torch.from_numpy(x), None, info)


register(
    DatasetSpec(
        name="celeba",
        parse=_parse,
        splits=tuple(SPLITS),
        files={s: (RemoteFile(PARTITION, (), PARTITION_SHA256, note=HOWTO),) for s in SPLITS},
        description="CelebA aligned faces, center crop 140 -> 3x64x64, 163k/20k/20k (Liu et al. 2015); manual download",
    )
)
