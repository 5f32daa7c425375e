"""dgm: deep generative models — train, sample and evaluate the canon on your own data."""
__version__ = "0.1.0"

from .errors import CheckpointError, ConfigError, DataError, DgmError, DivergenceError  # noqa: E402

from . import data, models  # noqa: E402,F401

__all__ = ["__version__", "DgmError", "ConfigError", "DataError", "CheckpointError", "DivergenceError",
           "data", "models", "metrics", "train", "runs", "viz"]

_LAZY = ("metrics", "train", "runs", "viz", "cli")


def __getattr__(name: str):
    """``dgm.metrics``, ``dgm.train``... after a bare ``import dgm`` (imported on first use)."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dgm' has no attribute {name!r}")
