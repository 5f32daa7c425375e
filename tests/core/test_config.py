"""Typed configs: YAML-style values, --set overrides, strict keys with suggestions."""
from dataclasses import dataclass
from typing import Literal

import pytest

from dgm.config import coerce, from_dict, override, parse_assignment, to_dict
from dgm.errors import ConfigError
from dgm.models import build_config
from dgm.registry import Registry
from dgm.train import TrainConfig


@dataclass(frozen=True)
class Inner:
    width: int = 4


@dataclass(frozen=True)
class Outer:
    inner: Inner = Inner()
    rate: float = 0.1
    mode: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    clip: float | None = None


def test_override_nested_and_types():
    cfg = override(Outer(), "inner.width", "8")
    assert cfg.inner.width == 8 and isinstance(cfg.inner.width, int)
    assert override(Outer(), "sizes", "3,4,5").sizes == (3, 4, 5)
    assert override(Outer(), "clip", "none").clip is None
    assert override(Outer(), "clip", 2).clip == 2.0


@pytest.mark.parametrize("key,value,needle", [
    ("inner.widht", 3, "did you mean 'width'"),
    ("mode", "c", "is not one of"),
    ("rate", "fast", "should be a number"),
    ("inner.width", 2.5, "should be an integer"),
    ("rate.x", 1, "has no sub-keys"),
])
def test_override_errors_name_the_problem(key, value, needle):
    with pytest.raises(ConfigError, match=needle):
        override(Outer(), key, value)


def test_round_trip_dict():
    cfg = Outer(inner=Inner(7), sizes=(9,))
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_parse_assignment_yaml_values():
    assert parse_assignment("model.latent_dim=32") == ("model.latent_dim", 32)
    assert parse_assignment("train.lr=3e-4") == ("train.lr", 3e-4)
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("nonsense")


def test_model_config_validation():
    assert build_config("iwae").iwae_k == 5
    with pytest.raises(ConfigError, match="latent_dim must be > 0"):
        build_config("vae", {"latent_dim": -3})
    with pytest.raises(ConfigError, match="unknown config key 'latnt_dim'.*latent_dim"):
        build_config("vae", {"latnt_dim": 3})


def test_train_config_validation():
    with pytest.raises(ConfigError):
        TrainConfig(steps=10, epochs=2)
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=0)
    assert coerce("true", bool, "x") is True


def test_registry_suggests_close_names():
    r: Registry[int] = Registry("thing")
    r.register("gated-pixelcnn")(1)
    with pytest.raises(ConfigError, match="did you mean 'gated-pixelcnn'"):
        r.get("gated-pixelcn")
