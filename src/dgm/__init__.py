"""dgm: deep generative models — train, sample and evaluate the canon on your own data."""
__version__ = "0.1.0"

from .errors import CheckpointError, ConfigError, DataError, DgmError, DivergenceError  # noqa: E402

from . import data, models  # noqa: E402,F401

__all__ = ["__version__", "DgmError", "ConfigError", "DataError", "CheckpointError", "DivergenceError",
           "data", "models"]
