"""Your own images: ``dgm.data.load("folder:PATH")`` reads every image under PATH into one uint8 dataset.

- Found recursively: .png .jpg .jpeg .webp .bmp .gif (first frame); hidden files and folders, .DS_Store,
  Thumbs.db and other extensions are skipped and counted.
- Labels: when the images sit in two or more top-level sub-folders (and none directly in PATH), each sub-folder
  is a class, numbered in sorted name order; otherwise there are no labels.
- Channels: 3 if any image has colour, else 1, unless ``channels`` is given. L/LA/P/RGB/RGBA/CMYK and 16-bit
  ("I;16", "I") images are converted; alpha is composited over black; 16-bit values are scaled to 8 bits.
- Size: one common size is kept as is. Mixed sizes are center-cropped to a square and resized to ``size``
  (default: the shorter side of the most common size, or 64 when that exceeds 256); ``resize=False`` makes mixed
  sizes an error instead.
- Unreadable files (zero bytes, truncated, not really images) fail with every bad path named, or are skipped
  and counted with ``skip_bad=True``. Pillow's LOAD_TRUNCATED_IMAGES is never used.
"""
from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..dataset import DatasetInfo, ImageDataset

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
JUNK = {"thumbs.db", "desktop.ini", ".ds_store"}
HUGE = 256  # default target side when images are larger than this: keeps N x C x H x W in memory reasonable
FALLBACK_SIZE = 64
MAX_NAMED = 10
COLOUR_MODES = {"RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "PA"}


def scan(root: Path) -> tuple[list[Path], int, int]:
    """Image paths under ``root`` (sorted), the number of other files skipped, and of hidden folders pruned."""
    images: list[Path] = []
    skipped = hidden = 0
    for dirpath, dirnames, filenames in os.walk(root):
        hidden += sum(d.startswith(".") for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # prune .git, .cache, ... unread
        for name in filenames:
            if name.startswith(".") or name.lower() in JUNK or not name.lower().endswith(EXTENSIONS):
                skipped += 1
            else:
                images.append(Path(dirpath) / name)
    return sorted(images), skipped, hidden


def class_labels(root: Path, images: list[Path]) -> tuple[np.ndarray | None, list[str]]:
    """Labels from top-level sub-folders (sorted names -> 0, 1, ...) when there are >= 2 and no loose images."""
    tops = [p.relative_to(root).parts for p in images]
    if any(len(t) == 1 for t in tops):
        return None, []
    classes = sorted({t[0] for t in tops})
    if len(classes) < 2:
        return None, []
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[t[0]] for t in tops], dtype=np.int64), classes


def _has_colour(img) -> bool:
    """Whether an opened (not decoded) image carries colour; palettes count only if some entry is not grey."""
    if img.mode == "P":
        pal = img.getpalette() or []
        rgb = np.array(pal[: len(pal) // 3 * 3]).reshape(-1, 3)
        return bool(len(rgb)) and bool((rgb != rgb[:, :1]).any())
    return img.mode in COLOUR_MODES


def to_array(img, channels: int) -> np.ndarray:
    """A decoded PIL image in any common mode -> uint8 (H, W, channels); alpha composited over black."""
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        if img.mode != "F":
            a = a / 257.0  # 16-bit 0..65535 -> 0..255 (Pillow opens 16-bit PNGs as "I;16" or "I")
        elif a.size and a.max() <= 1.0:
            a = a * 255.0  # float images in [0, 1]
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        img = Image.fromarray(a, mode="L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)
        rgb = (rgba[..., :3] * rgba[..., 3:] + 127) // 255  # composite over black
        img = Image.fromarray(rgb.astype(np.uint8), mode="RGB")
    img = img.convert("RGB" if channels == 3 else "L")
    a = np.asarray(img, dtype=np.uint8)
    return a[..., None] if a.ndim == 2 else a


def crop_resize(img, size: int):
    """Center-crop a PIL image to a square and resize it to (size, size) with antialiasing."""
    from PIL import Image

    w, h = img.size
    if (w, h) == (size, size):
        return img
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return img.resize((size, size), Image.Resampling.LANCZOS if side >= size else Image.Resampling.BICUBIC, box=box)


def _bad_error(root: Path, bad: list[tuple[Path, str]]) -> DataError:
    bad = sorted(bad)
    shown = "; ".join(f"{p} ({why})" for p, why in bad[:MAX_NAMED])
    more = f"; and {len(bad) - MAX_NAMED} more" if len(bad) > MAX_NAMED else ""
    return DataError(
        f"{len(bad)} unreadable image(s) in {root}: {shown}{more}; fix or delete them, or pass skip_bad=True "
        f"(--skip-bad-images) to skip them"
    )


def _why(e: Exception, path: Path) -> str:
    try:
        if path.stat().st_size == 0:
            return "empty file"
    except OSError:
        pass
    msg = str(e).split("\n")[0]
    return "truncated" if "truncated" in msg else f"not a readable image: {type(e).__name__}"


def _probe(images: list[Path]) -> tuple[list[tuple[Path, tuple[int, int], bool]], list[tuple[Path, str]]]:
    """Open each image's header only: (path, (w, h), has colour) for good ones, (path, reason) for bad ones."""
    from PIL import Image, UnidentifiedImageError

    ok, bad = [], []
    for p in images:
        try:
            with Image.open(p) as img:
                w, h = img.size
                if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF says rotate by 90 degrees
                    w, h = h, w
                ok.append((p, (w, h), _has_colour(img)))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            bad.append((p, _why(e, p)))
    return ok, bad


def _target_size(sizes: list[tuple[int, int]], size: int | None, resize: bool, root: Path) -> tuple[int, int] | None:
    """(w, h) every image ends up with, or None to keep the single common size; DataError when resize=False."""
    counts = Counter(sizes)
    if not resize:
        if len(counts) > 1 or (size is not None and counts.most_common(1)[0][0] != (size, size)):
            found = ", ".join(f"{w}x{h} ({n})" for (w, h), n in counts.most_common(5))
            want = f" {size}x{size}" if size else " one size"
            raise DataError(f"images in {root} are not all{want} (found {found}) and resize=False (--no-resize); "
                            f"resize them, or allow resizing with a size")
        return None
    if size is not None:
        return (size, size)
    (w, h), _ = counts.most_common(1)[0]
    if len(counts) == 1 and max(w, h) <= HUGE:
        return None
    side = min(w, h)
    if side > HUGE:
        log.info("images in %s are large (%dx%d); resizing to %d (pass size= to choose)", root, w, h, FALLBACK_SIZE)
        side = FALLBACK_SIZE
    return (side, side)


def load_folder(path: str, channels: int | None = None, size: int | None = None, skip_bad: bool = False,
                resize: bool = True) -> ImageDataset:
    """Every image under ``path`` as uint8 (N, C, H, W) with C = ``channels`` (1 or 3; default from the data)."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"folder not found: {path}")
    if not root.is_dir():
        raise DataError(f"not a folder: {path} (folder:PATH needs a directory of images)")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise DataError(f"size must be a positive integer, got {size!r}")
    images, skipped, hidden = scan(root)
    log.info("folder %s: %d image files; skipped %d other files (hidden, junk or not images) and %d hidden folders",
             root, len(images), skipped, hidden)
    if not images:
        raise DataError(f"no images found in {root} (looked for {' '.join(EXTENSIONS)})")
    ok, bad = _probe(images)
    if not ok:
        raise _bad_error(root, bad)
    if channels is None:
        channels = 3 if any(c for _, _, c in ok) else 1
    target = _target_size([s for _, s, _ in ok], size, resize, root)
    w, h = target or ok[0][1]
    data, keep = _decode(ok, channels, target, (h, w), bad)
    if bad and not skip_bad:
        raise _bad_error(root, bad)
    if bad:
        log.info("folder %s: skipped %d unreadable image(s), e.g. %s", root, len(bad), bad[0][0])
    kept = [p for (p, _, _), k in zip(ok, keep) if k]
    if not kept:
        raise DataError(f"no readable images in {root}: all {len(bad)} image files are unreadable")
    labels, classes = class_labels(root, kept)
    info = DatasetInfo(name=f"folder:{path}", split="train", shape=(channels, h, w), num_classes=len(classes))
    ds = ImageDataset(torch.from_numpy(data[keep]), None if labels is None else torch.from_numpy(labels), info)
    ds.skipped_files = [str(p) for p, *_ in bad]  # recorded by `dgm train` in the run's config.yaml
    return ds


def _decode(ok: list, channels: int, target: tuple[int, int] | None, hw: tuple[int, int],
            bad: list) -> tuple[np.ndarray, np.ndarray]:
    """Decode every probed image into one (N, C, H, W) array; failures are appended to ``bad`` and masked out."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from tqdm import tqdm

    data = np.zeros((len(ok), channels, *hw), dtype=np.uint8)
    keep = np.ones(len(ok), dtype=bool)
    bar = tqdm(ok, desc="decoding images", unit="img", leave=False, disable=not sys.stderr.isatty())
    for i, (p, _, _) in enumerate(bar):
        try:
            with Image.open(p) as img:
                img.load()  # raises on truncated data (we never set LOAD_TRUNCATED_IMAGES)
                a = to_array(ImageOps.exif_transpose(img), channels)  # camera photos: honour the EXIF rotation
            if target is not None and a.shape[:2] != (target[1], target[0]):
                a = np.asarray(crop_resize(Image.fromarray(a[..., 0] if channels == 1 else a), target[0]))
                a = a[..., None] if a.ndim == 2 else a
            data[i] = a.transpose(2, 0, 1)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            bad.append((p, _why(e, p)))
            keep[i] = False
    return data, keep
