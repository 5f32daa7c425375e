"""The web app's live controls on a trained model: samples with a seed and the model's own sampling options
(temperature, truncation, a diffusion model's sampler and steps, ...), a class for conditional models, a point
on an interpolation between two latent draws, one latent dimension set to a value, and style mixing for
style-based generators. Models load through the
project's safe loader (``runs.load_run``: safetensors and JSON) and stay cached until their run commits a newer
checkpoint."""
from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..models.base import GenerativeModel, LatentGenerator, LatentModel, sample_options
from ..viz.grids import grid_png

MAX_SAMPLES = 64
ROW = 8  # images per interpolation / traversal row
MIX_ROWS, MIX_COLS = 3, 5  # style-mixing sources: a 4 x 6 grid with the sources along its top and left


def option_defaults(model: GenerativeModel) -> dict[str, Any]:
    """The model's sampling options and their defaults (None when it has none)."""
    params = inspect.signature(type(model).sample).parameters
    return {name: (None if params[name].default is inspect.Parameter.empty else params[name].default)
            for name in sample_options(model)}


def capabilities(model: GenerativeModel) -> dict[str, Any]:
    """What the page offers for this model."""
    latent = isinstance(model, (LatentModel, LatentGenerator))
    return {"images": len(model.info.shape) == 3, "classes": int(getattr(model, "num_classes", 0) or 0),
            "options": {k: v for k, v in option_defaults(model).items()
                        if v is None or isinstance(v, (bool, int, float, str))},
            "latent": latent, "latent_dim": latent_size(model) if latent else 0,
            "style_mixing": bool(getattr(model, "style_based", False))}


def latent_size(model: GenerativeModel) -> int:
    if isinstance(model, LatentModel):
        return int(model.latent_dim)
    return int(model.draw(1, generator=torch.Generator().manual_seed(0)).z.shape[-1])


def coerce_options(model: GenerativeModel, given: dict[str, Any]) -> dict[str, Any]:
    """The page's option values typed as the model's defaults (a blank field keeps the default)."""
    defaults = option_defaults(model)
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name not in defaults:
            raise ConfigError(f"{type(model).__name__} sampling has no option {name!r}; it takes: "
                              f"{', '.join(defaults) or 'none'}")
        if value in ("", None):
            continue
        default = defaults[name]
        try:
            if isinstance(default, bool):
                out[name] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "on", "yes")
            elif isinstance(default, int):
                out[name] = int(value)
            elif isinstance(default, float) or default is None and _is_number(value):
                out[name] = float(value)
            else:
                out[name] = str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"option {name}: {value!r} is not a {type(default).__name__}") from None
    return out


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _int(value: Any, name: str, low: int, high: int) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if not low <= v <= high:
        raise ConfigError(f"{name} must be in {low}..{high}, got {v}")
    return v


def _float(value: Any, name: str, low: float, high: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not low <= v <= high:
        raise ConfigError(f"{name} must be in [{low:g}, {high:g}], got {v:g}")
    return v


@torch.no_grad()
def sample_png(model: GenerativeModel, request: dict[str, Any]) -> bytes:
    """A grid of ``n`` samples (1..64) from ``seed``, of class ``label`` (conditional models), with the model's
    sampling ``options``."""
    from ..runs import sample_images

    n = _int(request.get("n", 16), "n", 1, MAX_SAMPLES)
    seed = _int(request.get("seed", 0), "seed", 0, 2**31 - 1)
    classes = int(getattr(model, "num_classes", 0) or 0)
    labels = None
    if request.get("label") not in (None, ""):
        if not classes:
            raise ConfigError("this model is not class-conditional: leave the class empty")
        labels = torch.full((n,), _int(request["label"], "class", 0, classes - 1), dtype=torch.long)
    options = coerce_options(model, request.get("options") or {})
    images = sample_images(model, n, seed=seed, labels=labels, **options)
    if images.dim() != 4:
        raise ConfigError("this model generates 2-D points; the app shows images")
    return grid_png(images, nrow=ROW)


def _latent_pairs(model: GenerativeModel, seed: int) -> tuple[Any, Any]:
    """Two seeded latent draws of ROW rows: N(0, I) codes of a latent model, a generator's own draws."""
    g = torch.Generator().manual_seed(seed)
    if isinstance(model, LatentModel):
        return (torch.randn(ROW, model.latent_dim, generator=g), torch.randn(ROW, model.latent_dim, generator=g))
    if isinstance(model, LatentGenerator):
        return model.draw(ROW, generator=g), model.draw(ROW, generator=g)
    raise ConfigError(f"{type(model).__name__} has no latent space to walk")


def _render(model: GenerativeModel, latents: Any) -> torch.Tensor:
    return model.decode(latents.to(model.device)) if isinstance(model, LatentModel) else model.render(latents)


def _with_z(latents: Any, z: torch.Tensor) -> Any:
    return z if isinstance(latents, torch.Tensor) else dataclasses.replace(latents, z=z)


def _z(latents: Any) -> torch.Tensor:
    return latents if isinstance(latents, torch.Tensor) else latents.z


@torch.no_grad()
def interpolation_png(model: GenerativeModel, request: dict[str, Any]) -> bytes:
    """ROW images at fraction ``t`` in [0, 1] of the way between two seeded latent draws (a generator's labels
    and codes stay those of the first draw)."""
    seed = _int(request.get("seed", 0), "seed", 0, 2**31 - 1)
    t = _float(request.get("t", 0.5), "t", 0.0, 1.0)
    a, b = _latent_pairs(model, seed)
    z = _z(a) + t * (_z(b) - _z(a))
    return grid_png(_render(model, _with_z(a, z)).cpu(), nrow=ROW)


@torch.no_grad()
def traversal_png(model: GenerativeModel, request: dict[str, Any]) -> bytes:
    """ROW seeded latent draws with dimension ``dim`` set to ``value`` (in [-5, 5] prior standard deviations)."""
    seed = _int(request.get("seed", 0), "seed", 0, 2**31 - 1)
    a, _ = _latent_pairs(model, seed)
    z = _z(a).clone()
    dim = _int(request.get("dim", 0), "dim", 0, z.shape[-1] - 1)
    z[:, dim] = _float(request.get("value", 0.0), "value", -5.0, 5.0)
    return grid_png(_render(model, _with_z(a, z)).cpu(), nrow=ROW)


@torch.no_grad()
def style_mix_png(model: GenerativeModel, request: dict[str, Any]) -> bytes:
    """StyleGAN's style-mixing grid from ``seed``: MIX_ROWS row sources, MIX_COLS column sources, the cells
    taking the ``styles`` (coarse, middle or fine) of their column; ``truncation`` psi in [0, 1] (blank: none).
    Other models: the grid's own ConfigError."""
    from ..viz.style_mixing import RANGES, style_mix_grid

    seed = _int(request.get("seed", 0), "seed", 0, 2**31 - 1)
    which = str(request.get("styles", "coarse"))
    if which not in RANGES:
        raise ConfigError(f"styles must be one of {', '.join(RANGES)}, got {which!r}")
    psi = request.get("truncation")
    psi = None if psi in (None, "") else _float(psi, "truncation", 0.0, 1.0)
    images, nrow = style_mix_grid(model, MIX_ROWS, MIX_COLS, which, psi, torch.Generator().manual_seed(seed))
    return grid_png(images.cpu(), nrow=nrow)


class ModelCache:
    """Trained models by run, reloaded when the run commits a newer checkpoint; a lock per cache so two requests
    do not load one model twice (torch on CPU: one request computes at a time)."""

    def __init__(self, size: int = 4):
        self.size = size
        self.models: dict[str, tuple[str | None, GenerativeModel]] = {}
        self.used: dict[str, float] = {}
        self.lock = threading.Lock()

    def get(self, name: str, run: Path, version: str | None) -> GenerativeModel:
        from ..runs import load_run

        with self.lock:
            hit = self.models.get(name)
            if hit is None or hit[0] != version:
                model, _ = load_run(run)
                self.models[name] = (version, model)
                if len(self.models) > self.size:
                    oldest = min((k for k in self.models if k != name), key=lambda k: self.used.get(k, 0))
                    self.models.pop(oldest)
                    self.used.pop(oldest, None)
            self.used[name] = time.monotonic()
            return self.models[name][1]
