"""Pictures of a style-based generator (StyleGAN): style-mixing grids and noise resampling.

Both need a generator with ``map`` / ``broadcast`` / ``synthesis`` (``GAN.style_based``); images come out in
[0, 1] like every sample."""
from __future__ import annotations

import math

import torch

from ..errors import ConfigError

RANGES = ("coarse", "middle", "fine")


def style_layers(num_ws: int, which: str) -> list[int]:
    """The style inputs of the ``which`` third of the resolutions (coarse: the lowest, rounded up, then middle
    rounded up). Layer 0 is the base resolution; resolution r >= 1 has layers 2r - 1 and 2r (num_ws = 1 + 2k)."""
    if which not in RANGES:
        raise ConfigError(f"styles {which!r}: choose coarse, middle or fine")
    levels = (num_ws - 1) // 2 + 1
    coarse = math.ceil(levels / 3)  # 32x32: 4-8 coarse, 16 middle, 32 fine; 28x28: 7, 14, 28
    middle = coarse + math.ceil((levels - coarse) / 2)
    lo, hi = {"coarse": (0, coarse), "middle": (coarse, middle), "fine": (middle, levels)}[which]
    return [i for r in range(lo, hi) for i in ([0] if r == 0 else [2 * r - 1, 2 * r])]


def _check(model) -> None:
    if not getattr(model, "style_based", False):
        raise ConfigError("style mixing and noise grids need a style-based generator (e.g. dgm train stylegan2)")


@torch.no_grad()
def style_mix_grid(model, rows: int, cols: int, which: str = "coarse", psi: float | None = None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """StyleGAN's figure 3 -> (images ((rows + 1) * (cols + 1), C, H, W), cols + 1): the top row holds the
    column sources, the left column the row sources (the corner is blank); cell (i, j) is row source i with its
    ``which`` styles taken from column source j."""
    _check(model)
    g = model.generator
    lat_rows, lat_cols = model.draw(rows, generator=generator), model.draw(cols, generator=generator)
    seed = int(torch.randint(0, 2 ** 62, (), generator=generator))

    def styles(lat):
        w = g.map(lat.to(model.device).generator_input(model.categories), lat.labels)
        return g.broadcast(g.truncate(w, psi) if psi is not None else w)

    wa, wb = styles(lat_rows), styles(lat_cols)
    mask = torch.zeros(g.num_ws, dtype=torch.bool, device=wa.device)
    mask[style_layers(g.num_ws, which)] = True
    mixed = torch.where(mask[None, None, :, None], wb[None], wa[:, None]).reshape(rows * cols, g.num_ws, -1)
    top, left, cells = (model.render_styles(ws, seed) for ws in (wb, wa, mixed))
    cells = cells.view(rows, cols, *top.shape[1:])
    grid = [torch.ones_like(top[0])] + list(top)
    for i in range(rows):
        grid += [left[i]] + list(cells[i])
    return torch.stack(grid), cols + 1


@torch.no_grad()
def noise_grid(model, rows: int, cols: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Stochastic variation -> (images (rows * (cols + 1), C, H, W), cols + 1): each row one w rendered with
    ``cols`` noise draws, then the per-pixel standard deviation over them (scaled to [0, 1]) at the end."""
    _check(model)
    lat = model.draw(rows, generator=generator)
    seeds = torch.randint(0, 2 ** 62, (cols,), generator=generator).tolist()
    draws = torch.stack([model.render(lat, int(s)) for s in seeds], 1)  # (rows, cols, C, H, W)
    std = draws.std(1, keepdim=True)
    std = std / std.amax((2, 3, 4), keepdim=True).clamp_min(1e-8)
    return torch.cat([draws, std], 1).flatten(0, 1), cols + 1
