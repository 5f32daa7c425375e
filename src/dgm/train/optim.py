"""Optimizers for a model's groups: the train config, overridden per group by the model."""
from __future__ import annotations

import torch

from ..errors import ConfigError
from ..models.base import GenerativeModel
from .config import TrainConfig


def make_optimizer(params, kind: str, lr: float, betas: tuple[float, float], weight_decay: float) -> torch.optim.Optimizer:
    """Adam/AdamW use the fused kernel (on CPU the default loops over tensors in Python)."""
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=True)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=betas[0], weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {kind!r}; use adam, adamw, rmsprop or sgd")


def build_optimizers(model: GenerativeModel, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per group that has parameters (groups without any, e.g. an EM model, get none)."""
    out = {}
    for name, group in model.optimizer_groups().items():
        if not group.params:
            continue
        s = {"optimizer": cfg.optimizer, "lr": cfg.lr, "betas": cfg.betas, "weight_decay": cfg.weight_decay,
             **group.settings}
        if group.optimizers and s["optimizer"] not in group.optimizers:
            raise ConfigError(f"the {name} needs optimizer {' or '.join(group.optimizers)} ({group.why}), got "
                              f"{s['optimizer']!r}; set optimizer={group.optimizers[0]}")
        out[name] = make_optimizer(group.params, s["optimizer"], s["lr"], s["betas"], s["weight_decay"])
    return out
