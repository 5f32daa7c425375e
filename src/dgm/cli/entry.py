"""The ``dgm`` console script. Importing the commands loads torch and NumPy (seconds), and a KeyboardInterrupt
in the middle of those imports can leave them half-initialised (an interrupt raised inside a callback is
swallowed, and the import then fails later with a misleading error). So a first Ctrl-C during start-up is
held until the imports are done and then exits 130 with one line; a second one interrupts at once."""
from __future__ import annotations

import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    """Run ``dgm`` with ``argv`` (default sys.argv[1:]); returns the exit code."""
    interrupts: list[int] = []

    def hold(signum, frame):
        interrupts.append(signum)
        if len(interrupts) > 1:
            raise KeyboardInterrupt

    # only where Python's own handler is in place (not when SIGINT is ignored, e.g. in a background job)
    holding = threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if holding:
        signal.signal(signal.SIGINT, hold)
    try:
        from .main import main as run
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if holding:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupts:
        print("error: interrupted", file=sys.stderr)
        return 130
    return run(argv)
