"""A run directory belongs to one process: an advisory lock on ``RUN/.lock`` taken before anything else is
written there and released on exit.

POSIX ``fcntl.flock`` is released by the kernel when its holder dies (SIGKILL included), so a lock file left by
a dead process never blocks; the pid, host and command written into it only name the holder in the error.
Where ``fcntl`` is missing (Windows) the file is created exclusively and a holder whose pid is gone (on this
host) counts as stale.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"


def _describe(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
        return f"process {info['pid']} on {info['host']} (since {since}: {info['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(run_dir):`` -> exclusive use of ``run_dir`` (created if missing) or a ConfigError (exit 2)
    naming the holder."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> "RunLock":
        self._created = not self.run_dir.exists()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(f"--out {self.run_dir}: a file is in the way; choose a directory path") from None
        except OSError as e:  # no permission, a read-only disk (EROFS), a full one...
            raise ConfigError(f"--out {self.run_dir}: cannot create it ({e.strerror}); choose a directory you can "
                              "write to") from None
        held = (f"run directory {self.run_dir} is in use by {{who}}; wait for it to finish, or train into "
                "another --out")
        if fcntl is not None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise ConfigError(f"cannot create {self.path} ({e.strerror}); choose a writable --out") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise ConfigError(held.format(who=_describe(self.path))) from None
        else:  # pragma: no cover - Windows
            fd = self._acquire_exclusive_file(held)
        self._fd = fd
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                             "command": " ".join(sys.argv[:1] + sys.argv[1:])[:300]})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        return self

    def _acquire_exclusive_file(self, held: str) -> int:  # pragma: no cover - Windows
        for _ in range(2):
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    info = json.loads(self.path.read_text())
                    stale = info.get("host") == socket.gethostname() and not pid_alive(int(info["pid"]))
                except (OSError, ValueError, KeyError, TypeError):
                    stale = True
                if not stale:
                    raise ConfigError(held.format(who=_describe(self.path))) from None
                self.path.unlink(missing_ok=True)
        raise ConfigError(held.format(who=_describe(self.path)))

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if fcntl is None:  # pragma: no cover - Windows
                os.close(self._fd)
                self.path.unlink(missing_ok=True)
            else:  # the file stays (unlinking it would race with a new holder); the lock goes with the fd
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
        finally:
            self._fd = None
        # a run that failed before writing anything (a config error) leaves no directory behind
        if self._created and [p.name for p in self.run_dir.iterdir()] == [LOCK_NAME]:
            self.path.unlink(missing_ok=True)
            try:
                self.run_dir.rmdir()
            except OSError:
                pass

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
