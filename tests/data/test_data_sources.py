"""Dataset sources: real files in ../shared/data (skipped when absent) and small synthetic files for every parser."""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgm.data import datasets, load
from dgm.data.sources.binarized_mnist import parse_amat
from dgm.data.sources.cifar import restricted_loads
from dgm.data.sources.idx import IMAGE_MAGIC, LABEL_MAGIC, read_idx
from dgm.data.sources.mat5 import read_mat5
from dgm.errors import DataError

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ---- real data ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("split,counts", [("train", MNIST_TRAIN), ("test", MNIST_TEST)])
def test_mnist(real_data, split, counts):
    ds = load("mnist", split, data_dir=real_data("mnist"), download=False)
    assert ds.data.shape == (sum(counts), 1, 28, 28) and ds.data.dtype == torch.uint8
    assert torch.bincount(ds.labels).tolist() == counts and ds.info.num_classes == 10


def test_fashion_mnist_test(real_data):
    ds = load("fashion-mnist", "test", data_dir=real_data("fashion-mnist"), download=False)
    assert ds.data.shape == (10000, 1, 28, 28) and torch.bincount(ds.labels).tolist() == [1000] * 10


@pytest.fixture(scope="module")
def binarized(real_data):
    """All three splits, parsed once for the module (train is the only large one)."""
    root = real_data("binarized-mnist")
    return {s: load("binarized-mnist", s, data_dir=root, download=False) for s in ("train", "valid", "test")}


@pytest.mark.parametrize("split,n,mean", [("train", 50000, 0.1306), ("valid", 10000, 0.1311), ("test", 10000, 0.1325)])
def test_binarized_mnist(binarized, split, n, mean):
    ds = binarized[split]
    assert ds.data.shape == (n, 1, 28, 28) and ds.labels is None
    assert ds.info.kind == "binary" and ds.info.num_classes == 0 and int(ds.data.max()) == 1
    assert ds.data.float().mean().item() == pytest.approx(mean, abs=5e-5)


def test_frey_faces(real_data):
    data_dir = real_data("frey")
    parts = {s: load("frey-faces", s, data_dir=data_dir, download=False) for s in ("train", "test", "all")}
    assert parts["all"].data.shape == (1965, 1, 28, 20)
    assert len(parts["train"]) == 1800 and len(parts["test"]) == 165
    assert torch.equal(torch.cat([parts["train"].data, parts["test"].data]), parts["all"].data)
    x = parts["all"].data
    assert (int(x.min()), int(x.max())) == (8, 238)
    scipy_io = pytest.importorskip("scipy.io")
    ff = scipy_io.loadmat(str(data_dir / "frey" / "frey_rawface.mat"))["ff"]
    assert np.array_equal(x.numpy(), ff.T.reshape(-1, 1, 28, 20))


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match="missing .* run `dgm data fetch kmnist`"):
        load("kmnist", "test", data_dir=tmp_path, download=False)


def test_registered_names():
    for name in ("kmnist", "binarized-mnist", "cifar10", "svhn", "frey-faces", "celeba"):
        assert name in datasets
    assert datasets.get("binarized-mnist").splits == ("train", "valid", "test")


# ---- IDX errors --------------------------------------------------------------------------------------------------


def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">i", magic) + struct.pack(">" + "i" * arr.ndim, *arr.shape) + arr.tobytes()


def test_idx_errors(tmp_path):
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    good = tmp_path / "img.gz"
    good.write_bytes(gzip.compress(idx_bytes(x, IMAGE_MAGIC)))
    assert np.array_equal(read_idx(good, IMAGE_MAGIC), x)
    with pytest.raises(DataError, match="wrong IDX magic 2051 .expected 2049"):
        read_idx(good, LABEL_MAGIC)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good.read_bytes()[:-12])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(cut, IMAGE_MAGIC)
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(x, IMAGE_MAGIC)[:-5])
    with pytest.raises(DataError, match="truncated or corrupt: 27 bytes of data for shape"):
        read_idx(short, IMAGE_MAGIC)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short"):
        read_idx(tiny, IMAGE_MAGIC)


# ---- binarized MNIST text --------------------------------------------------------------------------------------


def amat(rows: np.ndarray, sep: str = " ", end: str = "\n") -> bytes:
    return "".join(sep.join(map(str, r)) + end for r in rows).encode()


def test_amat_parsing_and_validation(tmp_path):
    rows = np.random.default_rng(0).integers(0, 2, (3, 784)).astype(np.uint8)
    assert np.array_equal(parse_amat(amat(rows), Path("x")), rows)
    assert np.array_equal(parse_amat(amat(rows, end=" \r\n"), Path("x")), rows)  # other whitespace: slow path
    bad = rows.copy()
    bad[1, 5] = 2
    with pytest.raises(DataError, match="line 2 has a value other than 0 or 1"):
        parse_amat(amat(bad), Path("x"))
    with pytest.raises(DataError, match="line 1 has 783 values"):
        parse_amat(amat(rows[:, :-1]), Path("x"))
    with pytest.raises(DataError, match="empty"):
        parse_amat(b"", Path("x"))
    folder = tmp_path / "binarized-mnist"
    folder.mkdir()
    (folder / "binarized_mnist_test.amat.gz").write_bytes(gzip.compress(amat(rows)))
    ds = load("binarized-mnist", "test", data_dir=tmp_path, download=False)
    assert ds.data.shape == (3, 1, 28, 28) and torch.equal(ds.data.flatten(1), torch.from_numpy(rows))


# ---- MAT-5 files: Frey Face and SVHN ----------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_mat5_reader_matches_scipy(tmp_path, compress):
    sio = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(0)
    arrays = {"u8": rng.integers(0, 255, (4, 3, 2, 5), dtype=np.uint8), "f8": rng.normal(size=(6, 1)),
              "i16": rng.integers(-300, 300, (3, 7)).astype(np.int16)}
    sio.savemat(tmp_path / "a.mat", {**arrays, "text": "skipped"}, do_compression=compress)
    got = read_mat5(tmp_path / "a.mat")
    assert set(got) == set(arrays)
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v)


def test_mat5_errors(tmp_path):
    (tmp_path / "x.mat").write_bytes(b"not a mat file" * 20)
    with pytest.raises(DataError, match="not a MATLAB 5 MAT-file"):
        read_mat5(tmp_path / "x.mat")
    sio = pytest.importorskip("scipy.io")
    sio.savemat(tmp_path / "y.mat", {"a": np.zeros((50, 50))})
    (tmp_path / "cut.mat").write_bytes((tmp_path / "y.mat").read_bytes()[:500])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_mat5(tmp_path / "cut.mat")


def test_svhn_from_small_mat(tmp_path):
    sio = pytest.importorskip("scipy.io")
    x = np.random.default_rng(0).integers(0, 255, (32, 32, 3, 4), dtype=np.uint8)
    (tmp_path / "svhn").mkdir()
    sio.savemat(tmp_path / "svhn" / "test_32x32.mat", {"X": x, "y": np.array([[10.0], [1], [9], [10]])},
                do_compression=True)
    ds = load("svhn", "test", data_dir=tmp_path, download=False)
    assert ds.data.shape == (4, 3, 32, 32) and ds.labels.tolist() == [0, 1, 9, 0]
    assert torch.equal(ds.data[2], torch.from_numpy(x[:, :, :, 2].transpose(2, 0, 1).copy()))
    sio.savemat(tmp_path / "svhn" / "train_32x32.mat", {"X": x[:, :, 0]})
    with pytest.raises(DataError, match="expected X"):
        load("svhn", "train", data_dir=tmp_path, download=False)


# ---- CIFAR-10 pickles -------------------------------------------------------------------------------------------


def cifar_tar(folder: Path, batches: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, raw in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    return path


def batch(n: int, first_label: int, protocol: int = 4) -> bytes:
    data = np.arange(n * 3072, dtype=np.int64).astype(np.uint8).reshape(n, 3072)
    labels = [(first_label + i) % 10 for i in range(n)]
    return pickle.dumps({b"batch_label": b"x", b"labels": labels, b"data": data}, protocol=protocol)


def py2_batch(n: int, labels: list[int]) -> bytes:
    """A batch pickled the way CIFAR's were (Python 2, protocol 2, numpy 1.x names, str data), op by op."""
    data = (np.arange(n * 3072) % 256).astype(np.uint8).tobytes()
    dtype = b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
             b"(K\x01M" + struct.pack("<H", n) + b"M\x00\x0c\x86" + dtype + b"\x89T" + struct.pack("<I", len(data))
             + data + b"tb")
    labels_op = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return b"\x80\x02}(U\x04data" + array + b"U\x06labels" + labels_op + b"u."


def test_cifar10_from_fake_archive(tmp_path):
    batches = {f"data_batch_{i}": batch(2, i, protocol=4 + i % 2) for i in range(1, 6)}  # protocols 4 and 5
    cifar_tar(tmp_path / "cifar10", {**batches, "test_batch": batch(3, 7), "readme.html": b"<html>"})
    train = load("cifar10", "train", data_dir=tmp_path, download=False)
    assert train.data.shape == (10, 3, 32, 32) and train.labels.tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
    assert train.data[0, 1, 0, 0].item() == 1024 % 256  # channel planes: R, then G, then B
    test = load("cifar10", "test", data_dir=tmp_path, download=False)
    assert test.data.shape == (3, 3, 32, 32) and test.info.num_classes == 10


def test_cifar10_python2_pickle(tmp_path):
    cifar_tar(tmp_path / "cifar10", {"test_batch": py2_batch(3, [4, 0, 9])})
    ds = load("cifar10", "test", data_dir=tmp_path, download=False)
    assert ds.labels.tolist() == [4, 0, 9] and ds.data.shape == (3, 3, 32, 32)
    assert ds.data.flatten()[:300].tolist() == list(range(256)) + list(range(44))


MARKER: list[str] = []


def marker() -> None:  # what a malicious pickle would call
    MARKER.append("ran")


class Evil:
    def __reduce__(self):
        return (marker, ())


def test_cifar_unpickler_refuses_code_without_running_it(tmp_path):
    evil = pickle.dumps({"data": Evil(), "labels": []})
    with pytest.raises(DataError, match="refusing to unpickle .*marker"):
        restricted_loads(evil, "evil")
    cifar_tar(tmp_path / "cifar10", {"test_batch": evil})
    with pytest.raises(DataError, match="refusing to unpickle"):
        load("cifar10", "test", data_dir=tmp_path, download=False)
    with pytest.raises(DataError, match="refusing to unpickle builtins.eval"):
        restricted_loads(b"cbuiltins\neval\n(S'1+1'\ntR.", "evil2")
    assert MARKER == []


def test_cifar_bad_batches(tmp_path):
    with pytest.raises(DataError, match="not a valid CIFAR batch"):
        restricted_loads(b"\x80\x04garbage", "junk")
    wrong_shape = pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]})
    cifar_tar(tmp_path / "cifar10", {"test_batch": wrong_shape})
    with pytest.raises(DataError, match="uint8 \\(N, 3072\\)"):
        load("cifar10", "test", data_dir=tmp_path, download=False)
    cifar_tar(tmp_path / "cifar10", {"data_batch_1": batch(1, 0)})
    with pytest.raises(DataError, match="has no data_batch_2"):
        load("cifar10", "train", data_dir=tmp_path, download=False)


# ---- CelebA -----------------------------------------------------------------------------------------------------


def celeba_folder(root: Path, as_zip: bool) -> Path:
    folder = root / "celeba"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i:06d}.jpg" for i in range(1, 6)]
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {s}\r\n" for n, s in zip(names, [0, 0, 1, 2, 2])))
    imgs = {}
    for n in names:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(buf, "JPEG")
        imgs[n] = buf.getvalue()
    if as_zip:
        with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as zf:
            for n, raw in imgs.items():
                zf.writestr(f"img_align_celeba/{n}", raw)
    else:
        (folder / "img_align_celeba").mkdir()
        for n, raw in imgs.items():
            (folder / "img_align_celeba" / n).write_bytes(raw)
    return folder


@pytest.mark.parametrize("as_zip", [False, True])
def test_celeba(tmp_path, as_zip):
    folder = celeba_folder(tmp_path, as_zip)
    test = load("celeba", "test", data_dir=tmp_path, download=False)
    assert test.data.shape == (2, 3, 64, 64) and test.labels is None
    assert (folder / "celeba64_test.npy").is_file()  # decoded once, then cached
    assert torch.equal(load("celeba", "test", data_dir=tmp_path, download=False).data, test.data)
    assert len(load("celeba", "train", data_dir=tmp_path, download=False)) == 2


def test_celeba_missing_gives_instructions(tmp_path):
    with pytest.raises(DataError, match="cannot be downloaded automatically.*mmlab"):
        load("celeba", "train", data_dir=tmp_path)
    (tmp_path / "celeba").mkdir()
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    with pytest.raises(DataError, match="no img_align_celeba/ folder or img_align_celeba.zip"):
        load("celeba", "train", data_dir=tmp_path)
