"""Name -> factory registries for models and datasets, with "did you mean" suggestions on typos."""
from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from the names users type to factories, e.g. ``models.register("vae")(VAE)``."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            self._help[name] = help or (getattr(obj, "__doc__", "") or "").strip().split("\n")[0]
            return obj

        return decorate

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plugins that register temporarily); unknown names are ignored."""
        self._entries.pop(name, None)
        self._help.pop(name, None)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}{suggest(name, self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def help(self, name: str) -> str:
        return self._help[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def suggest(name: str, choices: list[str]) -> str:
    """': did you mean X?' for the closest choices, else the full list of valid names."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "; valid names: " + ", ".join(choices)
