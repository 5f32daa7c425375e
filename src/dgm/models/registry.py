"""The model registry: user-facing names -> (class, preset config overrides, training defaults)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import from_dict, merge_values, to_dict
from ..data.dataset import DatasetInfo
from ..registry import Registry
from .base import GenerativeModel


@dataclass(frozen=True)
class ModelEntry:
    """A registered name: the class, the preset's config values, and its paper's training settings."""

    cls: type[GenerativeModel]
    preset: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""


models: Registry[ModelEntry] = Registry("model")


def register_model(name: str, cls: type[GenerativeModel], description: str, preset: dict | None = None,
                   train: dict | None = None) -> None:
    """Register ``cls`` under ``name`` with preset config values and training defaults."""
    entry = ModelEntry(cls, dict(preset or {}), {**cls.default_train, **(train or {})}, description)
    models.register(name, help=description)(entry)


def build_config(name: str, values: dict[str, Any] | None = None) -> Any:
    """The typed config of model ``name``: class defaults <- preset <- ``values`` (validated; nested sections
    merge key by key, flat names and dotted keys are expanded, see ``config.nested``)."""
    entry = models.get(name)
    return from_dict(entry.cls.Config, merge_values(entry.cls.Config, entry.preset, values))


def create(name: str, info: DatasetInfo, config: Any = None, **values) -> GenerativeModel:
    """Build model ``name`` for data described by ``info``; ``values`` override config fields."""
    entry = models.get(name)
    if config is None:
        config = build_config(name, values)
    elif values:
        config = from_dict(entry.cls.Config, merge_values(entry.cls.Config, to_dict(config), values))
    return entry.cls(config, info)


def config_dict(model: GenerativeModel) -> dict[str, Any]:
    return to_dict(model.config)
