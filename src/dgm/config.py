"""Frozen dataclass configs: dict/YAML round trip and validated ``--set a.b=c`` overrides."""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from .errors import ConfigError
from .registry import suggest


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML/JSON-safe dict of a (nested) dataclass config; tuples become lists."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            v = to_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` (from YAML or a ``--set`` string) to type ``tp`` or raise ConfigError naming ``where``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        raise ConfigError(f"{where}={value!r} is not one of {', '.join(map(repr, choices))}")
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: cannot be {value!r}")
    if origin is tuple:
        args = get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}={value!r} should be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], where) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{where} needs {len(args)} values, got {len(value)}")
        return tuple(coerce(v, a, where) for v, a in zip(value, args))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}={value!r} should be true or false")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} should be an integer")
        if isinstance(value, int):
            return value
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}={value!r} should be an integer") from None
        if not math.isfinite(f) or f != int(f):
            raise ConfigError(f"{where}={value!r} should be an integer")
        return int(f)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} should be a number")
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}={value!r} should be a number") from None
        if not math.isfinite(f):  # NaN or infinity is never a meaningful setting (use null for "none")
            raise ConfigError(f"{where}={value!r} should be a finite number")
        return f
    if tp is str:
        return str(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where} should be a mapping of {tp.__name__} fields")
        return from_dict(tp, value, where)
    return value


def fragment(path: str, value: Any) -> dict[str, Any]:
    """``"a.b.c", v`` -> ``{"a": {"b": {"c": v}}}``."""
    head, _, rest = path.partition(".")
    return {head: fragment(rest, value) if rest else value}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of nested config values: mappings merge key by key, anything else in ``over`` replaces
    (``None`` included: a part set to null is removed)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def nested(cls: type, values: dict[str, Any] | None) -> dict[str, Any]:
    """``values`` for dataclass ``cls`` as nested mappings: dotted keys (``"a.b": v``, as ``--set model.a.b=v``
    gives them) and the class's ``flat_names`` (the documented old flat keys: name -> dotted path, or a function
    value -> nested fragment) expanded, the same within nested dataclass sections. Later keys win."""
    aliases = getattr(cls, "flat_names", {})
    out: dict[str, Any] = {}
    for k, v in (values or {}).items():
        if k in aliases:
            alias = aliases[k]
            part = fragment(alias, v) if isinstance(alias, str) else alias(v)
        else:
            part = fragment(k, v)
        out = merge(out, part)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]) and isinstance(out.get(f.name), dict):
            out[f.name] = nested(hints[f.name], out[f.name])
    return out


def merge_values(cls: type, *layers: dict[str, Any] | None) -> dict[str, Any]:
    """Config values for ``cls`` from layers (defaults first, each later one overriding), flat names and dotted
    keys expanded (see ``nested``)."""
    out: dict[str, Any] = {}
    for layer in layers:
        out = merge(out, nested(cls, layer))
    return out


def leaves(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested values -> {dotted key: value} of their leaves (an empty mapping is a leaf)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else k
        out.update(leaves(v, key) if isinstance(v, dict) and v else {key: v})
    return out


def value_at(values: dict[str, Any], dotted: str) -> Any:
    """The value (or sub-mapping) at a dotted key of nested values; None where there is none."""
    for k in dotted.split("."):
        if not isinstance(values, dict):
            return None
        values = values.get(k)
    return values


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data`` (flat names and dotted keys expanded, see ``nested``); unknown keys
    and wrong types are ConfigErrors naming valid keys."""
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in nested(cls, data).items():
        key = f"{where}.{k}" if where else k
        if k not in names:
            raise ConfigError(f"unknown config key {key!r}{suggest(k, names + list(getattr(cls, 'flat_names', {})))}")
        kwargs[k] = coerce(v, hints[k], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def override(cfg: Any, key: str, value: Any) -> Any:
    """A copy of ``cfg`` with dotted ``key`` (e.g. ``"encoder.hidden"``, or a flat name) set to ``value`` after
    type checks."""
    if key in getattr(type(cfg), "flat_names", {}):
        return from_dict(type(cfg), merge_values(type(cfg), to_dict(cfg), {key: value}))
    head, _, rest = key.partition(".")
    names = [f.name for f in dataclasses.fields(cfg)]
    if head not in names:
        raise ConfigError(f"unknown config key {key!r}{suggest(head, names)}")
    current = getattr(cfg, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"config key {head!r} has no sub-keys (tried {key!r})")
        new = override(current, rest, value)
    else:
        new = coerce(value, _hints(type(cfg))[head], key)
    try:
        return dataclasses.replace(cfg, **{head: new})
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key}={value!r}: {e}") from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``a.b=c`` into (``"a.b"``, YAML-parsed ``c``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r} should look like key=value, e.g. model.latent_dim=32")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    return key.strip(), value


def plain_value(value: Any) -> Any:
    """Configs hold tuples where YAML and JSON give lists: compare (and record) values as lists."""
    return list(value) if isinstance(value, tuple) else value


def format_assignment_value(value: Any) -> str:
    """A value as ``--set key=VALUE`` reads it back (the inverse of parse_assignment): [a,b] lists, null."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_assignment_value(v) for v in value) + "]"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict (ConfigError when missing or malformed)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} should hold a mapping at the top level")
    return data


def positive(name: str, value: float | int | None, allow_zero: bool = False) -> None:
    """Raise ConfigError unless ``value`` is > 0 (or >= 0); used in configs' ``__post_init__``."""
    if value is None:
        return
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value}")
