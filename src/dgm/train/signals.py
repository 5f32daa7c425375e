"""SIGINT/SIGTERM handling: the handler only sets a flag; the loop commits a checkpoint and exits 130/143."""
from __future__ import annotations

import signal
import threading


class StopRequest:
    """Context manager installing flag-setting handlers; restores the previous handlers on exit.

    A second SIGINT while stopping raises KeyboardInterrupt at once (the atomic save keeps the last
    good checkpoint valid).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()
