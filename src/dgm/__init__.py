"""dgm: deep generative models — train, sample and evaluate the canon on your own data."""
__version__ = "0.1.0"

from .errors import CheckpointError, ConfigError, DataError, DgmError, DivergenceError  # noqa: E402

__all__ = ["__version__", "DgmError", "ConfigError", "DataError", "CheckpointError", "DivergenceError",
           "data", "models", "metrics", "train", "runs", "viz"]

# Every subpackage is imported on first use, so `import dgm` stays light: the `dgm` command imports torch
# inside its own error handling (Ctrl-C during start-up exits 130 without a traceback).
_LAZY = ("data", "models", "metrics", "train", "runs", "viz", "cli")


def __getattr__(name: str):
    """``dgm.data``, ``dgm.models``, ``dgm.metrics``... after a bare ``import dgm`` (imported on first use)."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dgm' has no attribute {name!r}")
