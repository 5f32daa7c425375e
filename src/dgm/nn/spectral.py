"""Spectral normalisation of every weight layer of a module (Miyato et al. 2018)."""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


def spectral_normalize(module: nn.Module, n_power_iterations: int = 1, skip: tuple[type, ...] = ()) -> nn.Module:
    """Reparametrise the weight of every Linear/Conv/ConvTranspose/Embedding layer inside ``module`` (in place)
    as W / sigma(W), sigma estimated by ``n_power_iterations`` of power iteration per training forward
    (``torch.nn.utils.parametrizations.spectral_norm``; the estimate persists in buffers, so it sharpens
    over steps). Layers inside a module whose type is in ``skip`` (e.g. the zero-initialised gain layers of
    conditional batch norm, whose spectral norm starts at 0) are left alone. Returns ``module``."""
    excluded = {id(m) for parent in module.modules() if skip and isinstance(parent, skip) for m in parent.modules()}
    for layer in list(module.modules()):
        if isinstance(layer, WEIGHT_LAYERS) and id(layer) not in excluded:
            spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module
