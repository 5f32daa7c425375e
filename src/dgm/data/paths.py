"""Where dataset files live: --data-dir, else $DGM_DATA_DIR, else the user cache directory."""
from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """$DGM_DATA_DIR if set, else $XDG_CACHE_HOME/dgm/data (~/.cache/dgm/data)."""
    env = os.environ.get("DGM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "dgm" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The data directory to use: the explicit argument wins over the environment and the default. A path that
    exists but is not a folder is a DataError (exit 3)."""
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if path.exists() and not path.is_dir():
        from ..errors import DataError

        raise DataError(f"data directory {path} is a file; give the folder that holds <dataset>/ folders "
                        "(--data-dir or $DGM_DATA_DIR)")
    return path
