"""CIFAR-10 (Krizhevsky 2009) from the official python archive: 50k train / 10k test RGB 3x32x32, 10 classes.

The archive holds pickled dicts of numpy arrays. Pickle can run arbitrary code, so batches are read with a
restricted unpickler that rebuilds numpy arrays and nothing else; anything else is refused before it runs.
Batches are read straight from the tar (nothing is extracted).
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import DatasetInfo, ImageDataset
from ..download import RemoteFile
from ..registry import DatasetSpec, register

ARCHIVE = "cifar-10-python.tar.gz"
# sha256 of cifar-10-python.tar.gz (170,498,071 bytes, md5 c58f30108f718f92721af3b95e74349a), as pinned by Keras.
# Note: c4a38c50...a59bca1dd is the sha256 of the *binary* archive cifar-10-binary.tar.gz, not of this one.
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _numpy_internals():
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    return _reconstruct, _frombuffer


_RECONSTRUCT, _FROMBUFFER = _numpy_internals()
# The only globals a pickled numpy array needs (resolved here, never imported by name from the file). CIFAR's
# pickles were written by Python 2 with numpy 1.x ("numpy.core"); numpy 2 writes "numpy._core", and pickle
# protocol 5 uses _frombuffer instead of _reconstruct.
ALLOWED = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _FROMBUFFER for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global raises DataError before it is called."""

    def find_class(self, module: str, name: str):
        obj = ALLOWED.get((module, name))
        if obj is None:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed in dataset files")
        return obj


def restricted_loads(raw: bytes, source: str) -> object:
    """Unpickle ``raw`` with RestrictedUnpickler (latin1 strings, as Python 2 pickles need); DataError on junk."""
    try:
        return RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except DataError as e:
        raise DataError(f"{source}: {e}") from None
    except Exception as e:  # corrupt pickles raise many types (UnpicklingError, EOFError, ValueError, ...)
        raise DataError(f"{source} is not a valid CIFAR batch ({type(e).__name__}: {e}); fetch it again") from None


def _batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled CIFAR batch -> (uint8 (N, 3, 32, 32), int64 (N,))."""
    d = restricted_loads(raw, source)
    if not isinstance(d, dict):
        raise DataError(f"{source} is not a CIFAR batch (a {type(d).__name__}, not a dict); fetch it again")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    x, y = d.get("data"), d.get("labels")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DataError(f"{source}: 'data' is not a uint8 (N, 3072) array; fetch it again")
    try:
        labels = np.asarray(y, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{source}: 'labels' is not a list of integers; fetch it again") from None
    if len(labels) != len(x) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{source}: {len(labels)} labels in 0..9 expected for {len(x)} images; fetch it again")
    return x.reshape(-1, 3, 32, 32), labels  # stored as R plane, G plane, B plane, each row-major 32x32


def read_cifar_archive(path: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the named batches (e.g. ``data_batch_1``) read straight from the tar archive at ``path``."""
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in tf:
                base = m.name.rsplit("/", 1)[-1]
                if m.isreg() and base in names and base not in found:
                    found[base] = _batch(tf.extractfile(m).read(), f"{path}:{m.name}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path} is truncated or not a tar archive ({e}); delete it and fetch it again") from None
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(f"{path} has no {', '.join(missing)}; is it cifar-10-python.tar.gz? fetch it again")
    xs, ys = zip(*(found[n] for n in names))
    return np.concatenate(xs), np.concatenate(ys)


def _parse(paths: dict[str, Path], split: str) -> ImageDataset:
    x, y = read_cifar_archive(paths[ARCHIVE], BATCHES[split])
    info = DatasetInfo(name="cifar10", split=split, shape=(3, 32, 32), num_classes=10)
    return ImageDataset(torch.from_numpy(x), torch.from_numpy(y), info)


register(
    DatasetSpec(
        name="cifar10",
        folder="cifar10",
        parse=_parse,
        files={s: (RemoteFile(ARCHIVE, URLS, SHA256),) for s in BATCHES},
        description="CIFAR-10 natural images, 50k/10k, 3x32x32, 10 classes (Krizhevsky 2009)",
    )
)
