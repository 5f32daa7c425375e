"""IDX files (MNIST, Fashion-MNIST, KMNIST) and the bundled MNIST test set ``mnist-10k``."""
from __future__ import annotations

import gzip
import hashlib
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


def read_idx(path: Path, magic: int, sha256: str | None = None) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) with the expected magic number into a uint8 array; with ``sha256``
    (of the uncompressed bytes) a file whose bytes differ from the official one is refused, so a corrupted
    uncompressed copy, which no size check can catch, never reaches training."""
    raw = read_bytes(path)
    if len(raw) < 8:
        raise DataError(f"{path} is too short to be an IDX file; delete it and fetch it again")
    found = struct.unpack(">i", raw[:4])[0]
    if found != magic:
        kind = "images" if magic == IMAGE_MAGIC else "labels"
        raise DataError(f"{path}: wrong IDX magic {found} (expected {magic} for {kind}); is this the right file?")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated inside its header; delete it and fetch it again")
    dims = struct.unpack(">" + "i" * ndim, raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if min(dims, default=0) < 0 or len(body) != int(np.prod(dims, dtype=np.int64)):
        raise DataError(f"{path} is truncated or corrupt: {len(body)} bytes of data for shape {dims}; fetch it again")
    if sha256 is not None:
        got = hashlib.sha256(raw).hexdigest()
        if got != sha256:
            raise DataError(f"{path}: its bytes differ from the official file's (sha256 {got[:16]}..., expected "
                            f"{sha256[:16]}...): corrupt or another dataset's; delete it and fetch it again")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def parse_idx_pair(images: Path, labels: Path, name: str, split: str, num_classes: int = 10,
                   raw_sha256: dict[str, str] | None = None) -> ImageDataset:
    """The images and labels of one split; ``raw_sha256`` maps an IDX file's stem (``t10k-images-idx3-ubyte``)
    to the sha256 of its uncompressed bytes where it is known."""
    known = raw_sha256 or {}
    x = read_idx(images, IMAGE_MAGIC, known.get(_stem(images)))
    y = read_idx(labels, LABEL_MAGIC, known.get(_stem(labels)))
    if len(x) != len(y):
        raise DataError(f"{name}: {len(x)} images but {len(y)} labels in {images.parent}")
    data = torch.from_numpy(x.copy()).unsqueeze(1)
    info = DatasetInfo(name=name, split=split, shape=tuple(data.shape[1:]), num_classes=num_classes)
    return ImageDataset(data, torch.from_numpy(y.astype(np.int64)), info)


def _stem(path: Path) -> str:
    return path.name[:-3] if path.name.endswith(".gz") else path.name


PREFIX = {"train": "train", "test": "t10k"}


def idx_spec(name: str, mirrors: tuple[str, ...], sha: dict[str, str], description: str,
             raw_sha: dict[str, str] | None = None) -> DatasetSpec:
    """Register an IDX dataset: ``sha`` pins the downloaded .gz files, ``raw_sha`` (where known) their
    uncompressed bytes, checked at every load whichever form is on disk."""
    files = {}
    for split, prefix in PREFIX.items():
        files[split] = tuple(
            RemoteFile(f"{prefix}-{kind}.gz", tuple(m + f"{prefix}-{kind}.gz" for m in mirrors), sha[f"{prefix}-{kind}"])
            for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
        )

    def parse(paths: dict[str, Path], split: str) -> ImageDataset:
        p = PREFIX[split]
        return parse_idx_pair(paths[f"{p}-images-idx3-ubyte.gz"], paths[f"{p}-labels-idx1-ubyte.gz"], name, split,
                              raw_sha256=raw_sha)

    return register(DatasetSpec(name=name, parse=parse, files=files, description=description))


# sha256 of the uncompressed MNIST files, computed from the official .gz files pinned below (the bundled
# mnist-10k assets are the official test files, so the same values check them).
MNIST_RAW_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
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
    MNIST_RAW_SHA256,
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
    {  # of the uncompressed files, computed from the official .gz files pinned above
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
)


BUNDLED_TEST = 1000  # the last 1000 bundled images are held out as mnist-10k's test split


def _parse_bundled(paths: dict[str, Path], split: str) -> ImageDataset:
    ds = parse_idx_pair(ASSETS / "t10k-images-idx3-ubyte.gz", ASSETS / "t10k-labels-idx1-ubyte.gz", "mnist-10k", split,
                        raw_sha256=MNIST_RAW_SHA256)
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
