"""Pictures of a generator's latent inputs (GANs): interpolations between drawn latents and code traversals.

The model draws and renders its own latents (``LatentGenerator``: ``draw`` / ``render``), so labels and
InfoGAN codes stay consistent with how it was trained; these functions only arrange them into grids."""
from __future__ import annotations

import dataclasses

import torch

from ..models.base import LatentGenerator
from .latent import slerp


def _repeat(v: torch.Tensor | None, steps: int) -> torch.Tensor | None:
    return None if v is None else v.repeat_interleave(steps, 0)


def _lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B, L), (B, L), (T,) -> (B * T, L), row-major per pair."""
    return (a[:, None] + t[None, :, None] * (b - a)[:, None]).reshape(-1, a.shape[-1])


@torch.no_grad()
def interpolate_drawn(model: LatentGenerator, rows: int, steps: int = 10, spherical: bool = False,
                      generator: torch.Generator | None = None, **options) -> torch.Tensor:
    """``rows`` pairs of drawn latents, each row going from one to the other in ``steps`` images ->
    (rows * steps, C, H, W) (or points). z moves linearly (or by slerp) and continuous codes linearly; a row
    keeps its class label and categorical code. options: as ``model.draw`` (truncation, labels, code...)."""
    a = model.draw(rows, generator=generator, **options)
    b = model.draw(rows, generator=generator, **options)
    t = torch.linspace(0, 1, steps)
    z = slerp(a.z, b.z, t).reshape(-1, a.z.shape[-1]) if spherical else _lerp(a.z, b.z, t)
    fields = {"z": z}
    for f in dataclasses.fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if f.name == "z" or not isinstance(va, torch.Tensor):  # None, or psi (one number for the grid)
            continue
        fields[f.name] = _lerp(va, vb, t) if va.is_floating_point() else _repeat(va, steps)
    return model.render(dataclasses.replace(a, **fields))


@torch.no_grad()
def traverse_codes(model: LatentGenerator, rows: int = 10, steps: int = 10, span: float = 2.0, dim: int = 0,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """A code traversal grid -> (images (R * columns, C, H, W), columns); one z for the whole grid unless said:

    - InfoGAN with continuous codes: row = categorical value (or one row if none), column = continuous code
      ``dim`` from -span to span, the other continuous codes at 0 (Chen et al. 2016, figure 2);
    - InfoGAN with only a categorical code: one z per row, column = categorical value;
    - no codes: row = z dimension (the first ``rows``), column = its value from -span to span."""
    categories, continuous = getattr(model, "categories", 0), getattr(model, "continuous", 0)
    columns = steps
    base = model.draw(1, generator=generator)
    values = torch.linspace(-span, span, steps)
    if continuous:
        if not 0 <= dim < continuous:
            raise ValueError(f"continuous code {dim} does not exist: the model has codes 0..{continuous - 1}")
        k = max(categories, 1)
        cont = torch.zeros(k, steps, continuous)
        cont[:, :, dim] = values
        lat = dataclasses.replace(
            base, z=base.z.expand(k * steps, -1), labels=_repeat(base.labels, k * steps),
            code=torch.arange(k).repeat_interleave(steps) if categories else None,
            continuous=cont.reshape(-1, continuous))
    elif categories:
        per_row = model.draw(rows, generator=generator)
        lat = dataclasses.replace(per_row, z=_repeat(per_row.z, categories), labels=_repeat(per_row.labels, categories),
                                  code=torch.arange(categories).repeat(rows))
        columns = categories
    else:
        dims = min(rows, base.z.shape[-1])
        z = base.z.expand(dims * steps, -1).clone().reshape(dims, steps, -1)
        z[torch.arange(dims), :, torch.arange(dims)] = values
        lat = dataclasses.replace(base, z=z.reshape(dims * steps, -1), labels=_repeat(base.labels, dims * steps))
    return model.render(lat), columns
