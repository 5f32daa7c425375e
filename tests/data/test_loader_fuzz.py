"""Corrupt data files, generated: every loader either returns data or raises the project's DataError (exit 3 with
a fix); no other exception escapes. Each format starts from a small valid file, which hypothesis truncates,
overwrites, extends or replaces with random bytes; the valid file itself must load (so the fuzz reaches past
the first check). Examples are bounded and derandomized so the suite stays fast and repeatable."""
import gzip
import io
import os
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dgm.cli.eval_cmd import read_samples  # noqa: E402
from dgm.data import load  # noqa: E402
from dgm.data.extract import safe_extract  # noqa: E402
from dgm.data.sources.idx import IMAGE_MAGIC, read_idx  # noqa: E402
from dgm.errors import DataError  # noqa: E402

# DGM_FUZZ_EXAMPLES=2000 for a longer, random search (CI keeps 40 fixed examples per format)
EXAMPLES = int(os.environ.get("DGM_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="DGM_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def corrupted(draw, valid: bytes) -> bytes:
    """``valid`` truncated, with bytes overwritten or inserted, or replaced by random bytes."""
    kind = draw(st.sampled_from(["truncate", "overwrite", "insert", "random", "empty"]))
    if kind == "empty":
        return b""
    if kind == "random":
        return draw(st.binary(max_size=512))
    pos = draw(st.integers(0, max(len(valid) - 1, 0)))
    if kind == "truncate":
        return valid[:pos]
    blob = draw(st.binary(min_size=1, max_size=16))
    if kind == "overwrite":
        return valid[:pos] + blob + valid[pos + len(blob):]
    return valid[:pos] + blob + valid[pos:]


def idx_bytes(n: int = 3) -> bytes:
    x = np.arange(n * 28 * 28, dtype=np.uint8).tobytes()
    return struct.pack(">iiii", IMAGE_MAGIC, n, 28, 28) + x


def amat_bytes(n: int = 2) -> bytes:
    row = " ".join("1" if i % 3 else "0" for i in range(784)) + "\n"
    return (row * n).encode()


def cifar_bytes() -> bytes:
    buf = io.BytesIO()
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            raw = pickle.dumps(batch, protocol=4)  # protocol 2 would pickle bytes via _codecs (refused)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def mat_bytes(**arrays) -> bytes:
    scipy_io = pytest.importorskip("scipy.io")
    buf = io.BytesIO()
    scipy_io.savemat(buf, arrays)
    return buf.getvalue()


def png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, images=np.zeros((4, 1, 8, 8), np.uint8))
    return buf.getvalue()


def tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("data/a.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    return buf.getvalue()


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data/a.txt", b"abc")
    return buf.getvalue()


def only_data_errors(fn):
    """``fn()``'s result, or None when it raised DataError (the expected refusal, which must say what is wrong);
    any other exception is a defect and fails the test."""
    try:
        return fn()
    except DataError as e:
        assert str(e), "a DataError must say what is wrong"
        return None


# (dataset, split, file name under <data_dir>/<folder>/, valid bytes factory, folder)
DATASETS = [
    ("mnist", "test", "t10k-images-idx3-ubyte.gz", lambda: gzip.compress(idx_bytes()), "mnist"),
    ("binarized-mnist", "test", "binarized_mnist_test.amat", amat_bytes, "binarized-mnist"),
    ("cifar10", "test", "cifar-10-python.tar.gz", cifar_bytes, "cifar10"),
    ("frey-faces", "all", "frey_rawface.mat", lambda: mat_bytes(ff=np.zeros((560, 3), np.uint8)), "frey"),
    ("svhn", "test", "test_32x32.mat",
     lambda: mat_bytes(X=np.zeros((32, 32, 3, 2), np.uint8), y=np.array([[1], [10]], np.uint8)), "svhn"),
]


def write_dataset(tmp: Path, folder: str, name: str, raw: bytes) -> Path:
    d = tmp / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(raw)
    return tmp


@pytest.mark.parametrize("dataset, split, name, valid, folder", DATASETS, ids=[d[0] for d in DATASETS])
def test_dataset_files_fuzzed(dataset, split, name, valid, folder, tmp_path_factory):
    good = valid()
    if dataset != "mnist":  # mnist's pinned hashes refuse any file but the official one, the valid seed included
        ds = load(dataset, split, data_dir=write_dataset(tmp_path_factory.mktemp("ok"), folder, name, good),
                  download=False)
        assert len(ds) > 0

    @FUZZ
    @given(raw=corrupted(good))
    def check(raw):
        root = write_dataset(tmp_path_factory.mktemp("fz"), folder, name, raw)
        only_data_errors(lambda: load(dataset, split, data_dir=root, download=False))

    check()


@FUZZ
@given(raw=corrupted(idx_bytes()))
def test_idx_parser_fuzzed(raw, tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(raw)
    x = only_data_errors(lambda: read_idx(path, IMAGE_MAGIC))
    if x is not None:  # accepted: uint8 whose header agrees with the bytes that followed it
        assert x.dtype == np.uint8 and x.nbytes == len(raw) - 4 - 4 * x.ndim


def test_idx_parser_reads_the_valid_seed(tmp_path):
    (tmp_path / "x").write_bytes(idx_bytes(3))
    assert read_idx(tmp_path / "x", IMAGE_MAGIC).shape == (3, 28, 28)


@FUZZ
@given(raw=corrupted(png_bytes()))
def test_image_folder_fuzzed(raw, tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    (root / "good.png").write_bytes(png_bytes())
    (root / "bad.png").write_bytes(raw)
    only_data_errors(lambda: load(f"folder:{root}"))
    ds = load(f"folder:{root}", skip_bad=True)  # one good image always survives skipping
    assert 1 <= len(ds) <= 2


@FUZZ
@given(raw=corrupted(npz_bytes()))
def test_samples_npz_fuzzed(raw, tmp_path):
    (tmp_path / "s.npz").write_bytes(raw)
    images = only_data_errors(lambda: read_samples(tmp_path / "s.npz"))
    if images is not None:  # accepted: the documented uint8 (N, C, H, W)
        assert images.dtype == torch.uint8 and images.dim() == 4


@pytest.mark.parametrize("valid", [tar_bytes, zip_bytes], ids=["tar.gz", "zip"])
def test_archives_fuzzed(valid, tmp_path_factory):
    good = valid()
    dest = tmp_path_factory.mktemp("ok")
    (dest / "a").write_bytes(good)
    assert [p.name for p in safe_extract(dest / "a", dest / "out")] == ["a.txt"]

    @FUZZ
    @given(raw=corrupted(good))
    def check(raw):
        d = tmp_path_factory.mktemp("arc")
        (d / "a").write_bytes(raw)
        only_data_errors(lambda: safe_extract(d / "a", d / "out"))

    check()
