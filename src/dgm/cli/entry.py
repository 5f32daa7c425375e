"""The ``dgm`` console script. Importing the commands loads torch and NumPy (seconds), and a KeyboardInterrupt
in the middle of those imports can leave them half-initialised (an interrupt raised inside a callback is
swallowed, and the import then fails later with a misleading error). So a first Ctrl-C during start-up is
held until the imports are done and then exits 130 with one line; a second one interrupts at once."""
from __future__ import annotations

import signal
import sys
import threading


def interrupted() -> int:
    """Print the one line for Ctrl-C and return its exit code, 130.

    CPython (3.11) marks a KeyboardInterrupt that escapes code run by exec() of a string (dataclasses and
    namedtuples build their methods that way, e.g. while torch._dynamo imports) as unhandled even when a
    caller catches it, and ``python -m dgm`` then kills itself with SIGINT at exit instead of exiting 130.
    Each exec() of a string resets that mark first, so one that completes clears it."""
    print("error: interrupted", file=sys.stderr)
    exec("pass")  # noqa: S102 - clears the interpreter's unhandled-KeyboardInterrupt mark (see above)
    return 130


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
        return interrupted()
    finally:
        if holding:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if interrupts:
        return interrupted()
    return run(argv)
