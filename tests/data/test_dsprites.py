"""dSprites: the re-rendered grid (size, order, determinism, shapes where the factors put them, memory) and the
original npz's loader (no unpickling, factor order checked, bit-packed pixels exact), its download pinned by the
upstream git blob id."""
from __future__ import annotations

import hashlib
import subprocess

import numpy as np
import pytest
import torch

from dgm.data import load
from dgm.data.download import RemoteFile, fetch, git_blob_sha1_of
from dgm.data.sources import dsprites
from dgm.errors import DataError

FAST = dict(allow_insecure_localhost=True, backoff=0.001, timeout=5, progress=False)


@pytest.fixture(scope="module")
def gen():
    return load("dsprites-gen")


def test_gen_grid_size_order_and_factors(gen):
    assert len(gen) == 737_280 and gen.info.shape == (1, 64, 64) and gen.info.kind == "binary"
    f = gen.factors
    assert f.names == ("shape", "scale", "orientation", "pos_x", "pos_y") and f.sizes == (3, 6, 40, 32, 32)
    # position y varies fastest, then x, orientation, scale, shape (the original's order)
    assert f.indices[:3].tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 2]]
    assert f.indices[32].tolist() == [0, 0, 0, 1, 0] and f.indices[32 * 32].tolist() == [0, 0, 1, 0, 0]
    assert f.indices[-1].tolist() == [2, 5, 39, 31, 31]
    assert f.values[1][0] == 0.5 and f.values[1][-1] == 1.0 and float(f.values[2][-1]) < 2 * np.pi
    rows = torch.tensor([0, 12345, 737_279])
    assert torch.equal(f.rows_of(f.indices[rows]), rows)


def test_gen_images_are_deterministic_binary_and_pinned(gen):
    rows = torch.tensor([0, 1000, 250_000, 500_000, 737_279])
    x = gen[rows][0]
    assert x.dtype == torch.uint8 and x.shape == (5, 1, 64, 64) and set(x.unique().tolist()) <= {0, 1}
    assert torch.equal(x, gen[rows][0])
    assert all(int(im.sum()) > 10 for im in x)  # every sprite shows
    # a change to the renderer changes these pixels: bump dsprites.GEN_VERSION (feature caches key on it)
    assert hashlib.sha256(x.numpy().tobytes()).hexdigest()[:16] == PINNED, dsprites.GEN_VERSION


PINNED = "4b0eeca37fc499fa"


@pytest.mark.parametrize("shape", [0, 1])  # square and ellipse are symmetric about their centre
def test_sprites_are_centred_where_the_factors_say(shape):
    for px, py in [(0, 0), (31, 0), (7, 20), (31, 31)]:
        idx = torch.tensor([[shape, 5, 3, px, py]])
        im = dsprites.render(idx)[0, 0].double()
        rows, cols = torch.nonzero(im, as_tuple=True)
        centre = lambda p: dsprites.MARGIN + p / 31 * (64 - 2 * dsprites.MARGIN)  # noqa: E731
        assert float(cols.double().mean() + 0.5) == pytest.approx(centre(px), abs=0.5)
        assert float(rows.double().mean() + 0.5) == pytest.approx(centre(py), abs=0.5)
        # inside the image with a border: no sprite touches the edge
        assert im[0].sum() == 0 and im[-1].sum() == 0 and im[:, 0].sum() == 0 and im[:, -1].sum() == 0


def test_factors_change_the_pixels_the_way_they_name():
    base = torch.tensor([[0, 0, 0, 16, 16], [1, 0, 0, 16, 16], [2, 0, 0, 16, 16]])
    small, big = dsprites.render(base), dsprites.render(base + torch.tensor([0, 5, 0, 0, 0]))
    assert (big.sum((1, 2, 3)) > 3 * small.sum((1, 2, 3)) // 2).all()  # scale 1 vs 0.5: about 4x the area
    assert len({hashlib.sha256(im.numpy().tobytes()).digest() for im in small}) == 3  # three different shapes
    # a quarter turn of the ellipse (10 of 40 steps) swaps its extent across rows and columns
    e0 = dsprites.render(torch.tensor([[1, 5, 0, 16, 16]]))[0, 0]
    e90 = dsprites.render(torch.tensor([[1, 5, 10, 16, 16]]))[0, 0]
    assert e0.any(0).sum() > 1.5 * e0.any(1).sum() and e90.any(1).sum() > 1.5 * e90.any(0).sum()
    # moving along pos_x moves the sprite right (columns), pos_y down (rows)
    a, b = dsprites.render(torch.tensor([[0, 3, 0, 5, 5], [0, 3, 0, 20, 5]]))[:, 0]
    assert torch.nonzero(b)[:, 1].double().mean() > torch.nonzero(a)[:, 1].double().mean() + 10
    assert torch.equal(torch.nonzero(b)[:, 0].unique(), torch.nonzero(a)[:, 0].unique())


def test_gen_stays_small_in_memory_and_subsets_keep_factors(gen):
    held = gen.data.rows.nbytes + gen.factors.indices.nbytes + sum(v.nbytes for v in gen.factors.values)
    assert held < 200 * 2**20  # the images are never held: 3 GB as uint8
    sub = gen.subset(torch.tensor([5, 737_000]))
    assert len(sub) == 2 and torch.equal(sub.factors.indices, gen.factors.indices[[5, 737_000]])
    assert torch.equal(sub.data[:], gen[torch.tensor([5, 737_000])][0])
    assert sub.checksum() != gen.subset(torch.tensor([5, 6])).checksum()
    assert sub.checksum() == gen.subset(torch.tensor([5, 737_000])).checksum()


def test_rows_with_draws_only_rows_of_the_asked_value(gen):
    g = torch.Generator().manual_seed(0)
    values = torch.tensor([0, 39, 17, 17])
    rows = gen.factors.rows_with(2, values, g)
    assert torch.equal(gen.factors.indices[rows, 2], values)
    assert len(set(gen.factors.rows_with(2, torch.full((50,), 17), g).tolist())) > 40  # spread, not one row


def small_grid(monkeypatch):
    monkeypatch.setattr(dsprites, "SIZES", (3, 2, 2, 2, 2))
    return int(np.prod(dsprites.SIZES))


def write_npz(path, n, classes=None, imgs=None):
    """An npz in the original's layout, with a pickled metadata member like the real one."""
    if classes is None:
        classes = np.concatenate([np.zeros((n, 1), np.int64), dsprites.grid_indices(torch.arange(n)).numpy()], 1)
    values = classes.astype(np.float64)
    values[:, 2] = 0.5 + classes[:, 2] * 0.1
    if imgs is None:
        imgs = (np.random.default_rng(0).random((n, 64, 64)) < 0.3).astype(np.uint8)
    metadata = np.array({"latents_sizes": np.array([1, 3, 6, 40, 32, 32])}, dtype=object)
    np.savez_compressed(path, imgs=imgs, latents_classes=classes, latents_values=values, metadata=metadata)
    return imgs


def test_original_loader_never_unpickles_and_unpacks_exactly(monkeypatch, tmp_path):
    n = small_grid(monkeypatch)
    path = tmp_path / dsprites.FILE
    imgs = write_npz(path, n)
    loads = []
    for name in ("load", "loads"):  # any unpickling would show here
        monkeypatch.setattr(f"pickle.{name}", lambda *a, **k: loads.append(1))
    ds = dsprites.load_original(path)
    assert loads == [] and len(ds) == n and ds.info.name == "dsprites"
    assert torch.equal(ds[torch.arange(n)][0], torch.from_numpy(imgs)[:, None])
    assert torch.equal(ds.factors.indices, dsprites.grid_indices(torch.arange(n)))  # agrees with dsprites-gen
    assert ds.factors.values[1].tolist() == [0.5, 0.6]


def test_original_with_another_factor_order_is_refused(monkeypatch, tmp_path):
    n = small_grid(monkeypatch)
    classes = np.concatenate([np.zeros((n, 1), np.int64), dsprites.grid_indices(torch.arange(n)).numpy()], 1)
    path = tmp_path / dsprites.FILE
    write_npz(path, n, classes=classes[::-1].copy())
    with pytest.raises(DataError, match="factor order"):
        dsprites.load_original(path)
    write_npz(path, n, imgs=np.full((n, 64, 64), 255, np.uint8))
    with pytest.raises(DataError, match="other than 0 and 1"):
        dsprites.load_original(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="fetch it again"):
        dsprites.load_original(path)


def test_git_blob_pin_matches_git_and_guards_the_download(http_server, tmp_path):
    body = bytes(range(256)) * 300
    (tmp_path / "f.bin").write_bytes(body)
    try:
        expected = subprocess.run(["git", "hash-object", str(tmp_path / "f.bin")], capture_output=True, text=True,
                                  check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    assert git_blob_sha1_of(tmp_path / "f.bin") == expected
    http_server.files["/f"] = body
    [path] = fetch([RemoteFile("got.bin", (http_server.url("/f"),), sha256="", git_blob_sha1=expected)],
                   tmp_path / "d", **FAST)
    assert path.read_bytes() == body
    http_server.scripts["/g"] = ["wrong"]
    http_server.files["/g"] = body
    with pytest.raises(DataError, match="expected git blob sha1 " + expected):
        fetch([RemoteFile("bad.bin", (http_server.url("/g"),), sha256="", git_blob_sha1=expected)],
              tmp_path / "e", retries=0, **FAST)
    assert dsprites.GIT_BLOB_SHA1 and len(dsprites.GIT_BLOB_SHA1) == 40
