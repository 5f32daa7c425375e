"""Dataset sources: each module parses one file format and registers its datasets on import."""
from . import idx, toy2d  # noqa: F401
