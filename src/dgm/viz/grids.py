"""Sample grids as PNG (images) or scatter plots (2-D points), with Pillow and NumPy only."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """images: float (N, C, H, W) in [0, 1] -> uint8 array (N, C, H, W) (values are rounded, not floored)."""
    return images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()


def grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """images: (N, C, H, W) in [0, 1] -> one uint8 image (H', W', C) tiling them in rows of ``nrow``."""
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    arr = to_uint8(images)
    out = np.full((ncol * (h + padding) + padding, nrow * (w + padding) + padding, c),
                  int(pad_value * 255), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        out[y : y + h, x : x + w] = arr[i].transpose(1, 2, 0)
    return out


def grid_image(images: torch.Tensor, nrow: int | None = None, scale: int = 2) -> Image.Image:
    """(N, C, H, W) images in [0, 1] -> one PIL image tiling them (nearest-neighbour upscaled ``scale`` times)."""
    g = grid(images, nrow)
    img = Image.fromarray(g[..., 0] if g.shape[-1] == 1 else g)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 2) -> Path:
    """Write (N, C, H, W) images in [0, 1] as a PNG grid (nearest-neighbour upscaled ``scale`` times)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(images, nrow, scale).save(path)
    return path


def grid_png(images: torch.Tensor, nrow: int | None = None, scale: int = 2) -> bytes:
    """The PNG file's bytes of ``save_grid``'s grid."""
    buf = io.BytesIO()
    grid_image(images, nrow, scale).save(buf, format="PNG")
    return buf.getvalue()


PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))  # one colour per class (mod 10)


def save_scatter(points: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None,
                 size: int = 512, extent: float | None = None, labels: torch.Tensor | None = None) -> Path:
    """Scatter plot of (N, 2) points (blue, or coloured by ``labels`` (N,) with a legend) over optional
    reference points (grey) as a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pts = points.detach().float().cpu()
    ref = reference.detach().float().cpu() if reference is not None else None
    if extent is None:
        both = pts if ref is None else torch.cat([pts, ref])
        extent = float(both.abs().quantile(0.995)) * 1.1 + 1e-6
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def pix(p: torch.Tensor) -> np.ndarray:
        return ((p.numpy() / extent + 1) / 2 * (size - 1)).round()

    if ref is not None:
        for x, y in pix(ref):
            draw.point((x, size - 1 - y), fill=(190, 190, 190))
    if labels is None:
        for x, y in pix(pts):
            draw.point((x, size - 1 - y), fill=(31, 90, 200))
    else:
        for (x, y), k in zip(pix(pts), labels.tolist()):
            draw.ellipse((x - 1, size - 2 - y, x + 1, size - y), fill=PALETTE[k % len(PALETTE)])
        for row, k in enumerate(sorted(set(labels.tolist()))[:20]):
            draw.rectangle((6, 6 + 12 * row, 14, 14 + 12 * row), fill=PALETTE[k % len(PALETTE)])
            draw.text((18, 4 + 12 * row), str(k), fill=(0, 0, 0))
    img.save(path)
    return path


def save_samples(samples: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None) -> Path:
    """Images -> grid PNG, 2-D points -> scatter PNG (over ``reference`` points when given)."""
    samples = samples.detach().cpu()
    return save_scatter(samples, path, reference) if samples.dim() == 2 else save_grid(samples, path)
