"""The ``dgm`` console script. Importing the commands loads torch (seconds), so they are imported here inside
the interrupt handling: Ctrl-C during start-up exits 130 with one line, like Ctrl-C later on."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``dgm`` with ``argv`` (default sys.argv[1:]); returns the exit code."""
    try:
        from .main import main as run
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return run(argv)
