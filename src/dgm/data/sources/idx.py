"""IDX files (MNIST, Fashion-MNIST, KMNIST) and the bundled MNIST test set ``mnist-10k``."""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import DatasetInfo, ImageDataset
from ..download import RemoteFile
from ..registry import DatasetSpec, register

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip; DataError when truncated or corrupt."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is truncated or corrupt ({e}); delete it and fetch it again") from None
    return raw


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) with the expected magic number into a uint8 array."""
    raw = read_bytes(path)
    if len(raw) < 8:
        raise DataError(f"{path} is too short to be an IDX file; delete it and fetch it again")
    found = struct.unpack(">i", raw[:4])[0]
    if found != magic:
        kind = "images" if magic == IMAGE_MAGIC else "labels"
        raise DataError(f"{path}: wrong IDX magic {found} (expected {magic} for {kind}); is this the right file?")
    ndim = raw[3]
    dims = struct.unpack(">" + "i" * ndim, raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: {len(body)} bytes of data for shape {dims}; fetch it again")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def parse_idx_pair(images: Path, labels: Path, name: str, split: str, num_classes: int = 10) -> ImageDataset:
    x = read_idx(images, IMAGE_MAGIC)
    y = read_idx(labels, LABEL_MAGIC)
    if len(x) != len(y):
        raise DataError(f"{name}: {len(x)} images but {len(y)} labels in {images.parent}")
    data = torch.from_numpy(x.copy()).unsqueeze(1)
    info = DatasetInfo(name=name, split=split, shape=tuple(data.shape[1:]), num_classes=num_classes)
    return ImageDataset(data, torch.from_numpy(y.astype(np.int64)), info)


PREFIX = {"train": "train", "test": "t10k"}


def idx_spec(name: str, mirrors: tuple[str, ...], sha: dict[str, str], description: str) -> DatasetSpec:
    files = {}
    for split, prefix in PREFIX.items():
        files[split] = tuple(
            RemoteFile(f"{prefix}-{kind}.gz", tuple(m + f"{prefix}-{kind}.gz" for m in mirrors), sha[f"{prefix}-{kind}"])
            for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
        )

    def parse(paths: dict[str, Path], split: str) -> ImageDataset:
        p = PREFIX[split]
        return parse_idx_pair(paths[f"{p}-images-idx3-ubyte.gz"], paths[f"{p}-labels-idx1-ubyte.gz"], name, split)

    return register(DatasetSpec(name=name, parse=parse, files=files, description=description))


idx_spec(
    "mnist",
    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    {
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "MNIST handwritten digits, 60k/10k, 1x28x28 (LeCun et al. 1998)",
)
idx_spec(
    "fashion-mnist",
    ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",),
    {
        "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "Fashion-MNIST clothing, 60k/10k, 1x28x28 (Xiao et al. 2017)",
)


BUNDLED_TEST = 1000  # the last 1000 bundled images are held out as mnist-10k's test split


def _parse_bundled(paths: dict[str, Path], split: str) -> ImageDataset:
    ds = parse_idx_pair(ASSETS / "t10k-images-idx3-ubyte.gz", ASSETS / "t10k-labels-idx1-ubyte.gz", "mnist-10k", split)
    return ds.subset(slice(0, -BUNDLED_TEST) if split == "train" else slice(-BUNDLED_TEST, None))


register(
    DatasetSpec(
        name="mnist-10k",
        parse=_parse_bundled,
        splits=("train", "test"),
        offline=True,
        description="the official MNIST test set, bundled: offline quickstart data (9k train / 1k test)",
    )
)
