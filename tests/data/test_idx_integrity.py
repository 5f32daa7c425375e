"""IDX files are checked byte for byte where the official bytes are known: a corrupted uncompressed copy (which
passes every size check) or another dataset's file is refused with the fix, the official file loads."""
import gzip
import struct

import pytest

from dgm.data import load
from dgm.data.sources.idx import ASSETS, IMAGE_MAGIC, read_idx
from dgm.errors import DataError


@pytest.fixture
def official_test_split(tmp_path):
    """<tmp>/mnist/ holding MNIST's official test split uncompressed (the bundled files are the official ones)."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(gzip.decompress((ASSETS / f"{name}.gz").read_bytes()))
    return tmp_path


def test_the_official_uncompressed_files_load(official_test_split):
    ds = load("mnist", "test", data_dir=official_test_split, download=False)
    assert len(ds) == 10_000 and ds.data.shape[1:] == (1, 28, 28)


@pytest.mark.parametrize("compress", [False, True])
def test_one_flipped_pixel_is_refused(official_test_split, compress):
    path = official_test_split / "mnist" / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[16 + 28 * 28 * 500 + 300] ^= 0xFF  # one pixel of image 500: sizes and header stay valid
    path.unlink()
    if compress:
        (path.parent / (path.name + ".gz")).write_bytes(gzip.compress(bytes(raw)))
    else:
        path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="differ from the official file's .*delete it and fetch it again"):
        load("mnist", "test", data_dir=official_test_split, download=False)


def test_another_datasets_files_are_refused(official_test_split):
    (official_test_split / "mnist").rename(official_test_split / "fashion-mnist")
    with pytest.raises(DataError, match="sha256"):
        load("fashion-mnist", "test", data_dir=official_test_split, download=False)


@pytest.mark.parametrize("raw, why", [
    (struct.pack(">i", IMAGE_MAGIC) + b"\x00\x00", "too short"),
    (struct.pack(">iii", IMAGE_MAGIC, 3, 28), "inside its header"),
    (struct.pack(">iiii", IMAGE_MAGIC, -1, 28, 28), "truncated or corrupt"),
    (struct.pack(">iiii", IMAGE_MAGIC, 2, 28, 28) + bytes(28 * 28), "truncated or corrupt"),
])
def test_malformed_headers(tmp_path, raw, why):
    (tmp_path / "x").write_bytes(raw)
    with pytest.raises(DataError, match=why):
        read_idx(tmp_path / "x", IMAGE_MAGIC)
