"""Error types: each carries the process exit code the CLI uses (see docs/design.md, section 7)."""
from __future__ import annotations


class DgmError(Exception):
    """Base of every error dgm raises on purpose; the message says what went wrong and how to fix it."""

    exit_code = 1


class ConfigError(DgmError, ValueError):
    """Bad usage or configuration value (exit 2)."""

    exit_code = 2


class DataError(DgmError):
    """Missing, corrupt or unusable data, or a failed download (exit 3)."""

    exit_code = 3


class CheckpointError(DgmError):
    """A checkpoint that is missing, corrupt, unsafe or incompatible (exit 4)."""

    exit_code = 4


class DivergenceError(DgmError):
    """Training produced non-finite values too many times in a row (exit 5)."""

    exit_code = 5


class DistributedError(DgmError):
    """A data-parallel process lost the others (one died, or a collective timed out) (exit 6)."""

    exit_code = 6


class Interrupted(DgmError):
    """Training stopped by SIGINT (exit 130) or SIGTERM (exit 143) after committing a checkpoint."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
