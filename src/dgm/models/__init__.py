"""Generative models, created by name: ``dgm.models.create("vae", data.info, latent_dim=20)``.

Models register themselves (``register_model``) when their module is imported. Every module under this package
is imported on first use (package discovery: a new family appears in ``dgm list models`` by existing, with no
import list to edit), then the ``dgm.models`` entry points of installed plugin packages."""
from __future__ import annotations

import importlib
import importlib.metadata
import logging
import pkgutil

from .base import (Batch, GenerativeModel, HasELBO, HasLogProb, LatentGenerator, LatentModel, OptimizerGroup,
                   ShowsTrajectory, StepwiseSampler)
from .registry import build_config, create, models, register_model

__all__ = ["Batch", "GenerativeModel", "HasELBO", "HasLogProb", "LatentGenerator", "LatentModel", "OptimizerGroup",
           "ShowsTrajectory", "StepwiseSampler", "build_config", "create", "discover", "models", "register_model"]

ENTRY_POINT_GROUP = "dgm.models"
log = logging.getLogger("dgm.models")


def discover(package: str = __name__, path: list[str] | None = None, entry_points: bool = True) -> list[str]:
    """Import every module of ``package`` (found under ``path``), then load the ``dgm.models`` entry points;
    returns the names imported. A plugin that fails to load is reported and skipped, never fatal."""
    imported = []
    for info in pkgutil.walk_packages(path if path is not None else __path__, prefix=package + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
                imported.append(ep.value)
            except Exception as e:  # a broken third-party plugin must not take dgm down
                log.warning("dgm plugin %s (%s) failed to load: %s", ep.name, ep.value, e)
    return imported


discover()
