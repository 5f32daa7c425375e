"""``load("folder:PATH")``: RELIABILITY cases 20-24 (empty, junk, bad files, mixed modes and sizes, small data)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgm.data import iterate_batches, load
from dgm.data.sources.folder import load_folder
from dgm.errors import DataError


def save(path: Path, img: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def grey(v: int, size=(8, 8)) -> Image.Image:
    return Image.new("L", size, v)


def rgb(c=(200, 10, 10), size=(8, 8)) -> Image.Image:
    return Image.new("RGB", size, c)


def test_missing_and_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="folder not found: .*nope"):
        load_folder(str(tmp_path / "nope"))
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(DataError, match="not a folder"):
        load_folder(str(tmp_path / "f.png"))


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match=r"no images found in .* \(looked for .png .jpg .jpeg .webp .bmp .gif\)"):
        load(f"folder:{tmp_path}")


def test_only_non_images(tmp_path):
    for name in ("README.txt", ".DS_Store", "Thumbs.db", "notes.md"):
        (tmp_path / name).write_text("x")
    save(tmp_path / ".hidden" / "a.png", grey(1))  # hidden folders are never read
    with pytest.raises(DataError, match="no images found"):
        load_folder(str(tmp_path))


def test_junk_mixed_in_is_skipped_and_counted(tmp_path, caplog):
    for i in range(3):
        save(tmp_path / f"img{i}.png", grey(10 * i))
    save(tmp_path / "UPPER.PNG", grey(99))
    for name in ("README.txt", ".DS_Store", "Thumbs.db", "._img0.png", "desktop.ini"):
        (tmp_path / name).write_bytes(b"junk")
    save(tmp_path / ".git" / "x.png", grey(1))
    with caplog.at_level(logging.INFO, logger="dgm.data.sources.folder"):
        ds = load_folder(str(tmp_path))
    assert len(ds) == 4 and ds.info.shape == (1, 8, 8) and ds.labels is None
    assert sorted(ds.data[:, 0, 0, 0].tolist()) == [0, 10, 20, 99]
    assert "skipped 5 other files" in caplog.text and "1 hidden folders" in caplog.text
    assert ds.info.name == f"folder:{tmp_path}" and ds.info.kind == "image"


def make_bad_files(root: Path) -> list[Path]:
    good = save(root / "good.png", rgb(size=(16, 16)))
    save(root / "good2.jpg", rgb(size=(16, 16)))
    trunc_png = root / "trunc.png"
    trunc_png.write_bytes(good.read_bytes()[:-30])
    big = save(root / "big.jpg", Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)))
    trunc_jpg = root / "trunc.jpg"
    trunc_jpg.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    big.unlink()
    empty = root / "empty.jpg"
    empty.write_bytes(b"")
    fake = root / "fake.png"
    fake.write_text("this is not a png")
    return [trunc_png, trunc_jpg, empty, fake]


def test_bad_images_fail_naming_each_path(tmp_path):
    bad = make_bad_files(tmp_path)
    with pytest.raises(DataError) as e:
        load_folder(str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and "4 unreadable" in msg and "skip_bad=True" in msg
    for p in bad:
        assert str(p) in msg
    assert "empty file" in msg and "truncated" in msg


def test_bad_images_skipped_with_count(tmp_path, caplog):
    make_bad_files(tmp_path)
    with caplog.at_level(logging.INFO, logger="dgm.data.sources.folder"):
        ds = load_folder(str(tmp_path), skip_bad=True)
    assert len(ds) == 2 and ds.info.shape == (3, 16, 16)
    assert "skipped 4 unreadable" in caplog.text


def test_many_bad_images_are_summarised(tmp_path):
    save(tmp_path / "ok.png", grey(5))
    for i in range(13):
        (tmp_path / f"bad{i:02d}.png").write_bytes(b"")
    with pytest.raises(DataError, match="13 unreadable.*and 3 more"):
        load_folder(str(tmp_path))
    (tmp_path / "ok.png").unlink()
    with pytest.raises(DataError, match="unreadable"):  # nothing readable at all: an error even when skipping
        load_folder(str(tmp_path), skip_bad=True)


def mixed_modes(root: Path) -> None:
    save(root / "a_l.png", grey(100))
    save(root / "b_rgb.png", rgb((255, 0, 0)))
    rgba = Image.new("RGBA", (8, 8), (255, 255, 255, 0))  # fully transparent white -> black
    save(root / "c_rgba.png", rgba)
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 255] + [0, 0, 0] * 255)
    save(root / "d_p.png", pal)
    i16 = Image.fromarray(np.full((8, 8), 257 * 100, dtype=np.uint16))
    assert i16.mode == "I;16"
    save(root / "e_i16.png", i16)
    save(root / "f.gif", grey(7).convert("P"))


def test_mixed_modes_default_to_rgb(tmp_path):
    mixed_modes(tmp_path)
    ds = load_folder(str(tmp_path))
    assert ds.data.shape == (6, 3, 8, 8) and ds.data.dtype.is_floating_point is False
    px = ds.data[:, :, 0, 0].tolist()
    assert px[0] == [100, 100, 100]  # L
    assert px[1] == [255, 0, 0]  # RGB
    assert px[2] == [0, 0, 0]  # RGBA composited over black
    assert px[3] == [0, 0, 255]  # palette
    assert px[4] == [100, 100, 100]  # 16-bit scaled to 8 bits
    assert px[5] == [7, 7, 7]  # GIF


def test_mixed_modes_to_one_channel(tmp_path):
    mixed_modes(tmp_path)
    ds = load_folder(str(tmp_path), channels=1)
    assert ds.data.shape == (6, 1, 8, 8)
    assert ds.data[[0, 2, 4, 5], 0, 0, 0].tolist() == [100, 0, 100, 7]


def test_grey_palette_and_16bit_stay_one_channel(tmp_path):
    p = Image.new("P", (8, 8), 3)
    p.putpalette([v for i in range(256) for v in (i, i, i)])
    save(tmp_path / "p.png", p)
    save(tmp_path / "i16.png", Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)))
    ds = load_folder(str(tmp_path))
    assert ds.info.shape == (1, 8, 8) and sorted(ds.data[:, 0, 0, 0].tolist()) == [3, 255]
    with pytest.raises(DataError, match="channels must be 1 or 3"):
        load_folder(str(tmp_path), channels=4)


def test_mixed_sizes_are_cropped_and_resized(tmp_path):
    for i in range(3):
        save(tmp_path / f"s{i}.png", grey(50, size=(12, 10)))  # most common: 12x10 -> side 10
    save(tmp_path / "big.png", grey(200, size=(40, 30)))
    ds = load_folder(str(tmp_path))
    assert ds.data.shape == (4, 1, 10, 10)
    assert set(ds.data[:, 0, 5, 5].tolist()) == {50, 200}
    assert load_folder(str(tmp_path), size=6).data.shape == (4, 1, 6, 6)
    assert load(f"folder:{tmp_path}", size=16).data.shape == (4, 1, 16, 16)  # options pass through load()
    with pytest.raises(DataError, match="resize=False"):
        load_folder(str(tmp_path), resize=False)


def test_single_size_is_kept_even_when_not_square(tmp_path):
    for i in range(2):
        save(tmp_path / f"f{i}.png", grey(i, size=(20, 28)))
    ds = load_folder(str(tmp_path), resize=False)
    assert ds.data.shape == (2, 1, 28, 20)
    with pytest.raises(DataError, match="not all 16x16"):
        load_folder(str(tmp_path), size=16, resize=False)


def test_class_subfolders_become_labels(tmp_path):
    for cls, n in (("cat", 2), ("dog", 3)):
        for i in range(n):
            save(tmp_path / cls / "nested" / f"{i}.png" if i == 0 else tmp_path / cls / f"{i}.png", grey(i))
    ds = load_folder(str(tmp_path))
    assert ds.info.num_classes == 2 and ds.labels.tolist() == [0, 0, 1, 1, 1]
    save(tmp_path / "loose.png", grey(9))  # an image at the top level: no class structure
    assert load_folder(str(tmp_path)).labels is None


def test_dataset_smaller_than_batch(tmp_path):
    for i in range(7):
        save(tmp_path / f"{i}.png", grey(i))
    ds = load_folder(str(tmp_path))
    with pytest.raises(DataError, match="dataset has 7 samples < batch_size 64"):
        next(iterate_batches(ds, 64, seed=0))
    _, _, x, _ = next(iterate_batches(ds, 64, seed=0, drop_last=False))
    assert x.shape == (7, 1, 8, 8)
