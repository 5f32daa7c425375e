"""What the web app knows about a runs folder: its runs by name, each run's status and headline numbers, and the
files it may serve. Nothing here joins a requested string into a path: runs and files are looked up by exact
match in listings of what is inside the folder."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..metrics.summary import headline
from ..train.checkpoint import committed
from ..train.run_lock import LOCK_NAME, pid_alive

SERVED = {".png", ".json", ".jsonl", ".yaml", ".html", ".txt", ".csv"}  # artefacts the app serves


@dataclass
class RunInfo:
    """One run's row in the app's list."""

    name: str
    model: str
    data: str
    step: int | None
    status: str  # running, finished, stopped (resumable), failed (no checkpoint and no trainer)
    metrics: dict[str, Any]
    latest: str | None  # the latest committed checkpoint's folder name (a model cache key)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_runs(root: Path) -> dict[str, Path]:
    """The run directories directly inside ``root`` (those holding config.yaml), by name."""
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.is_symlink()
            and (p / "config.yaml").is_file()}


def holder_alive(run: Path) -> bool:
    """A trainer holds the run: its lock file names a live process on this host (a released lock is empty)."""
    try:
        info = json.loads((run / LOCK_NAME).read_text() or "{}")
        return info.get("host") == socket.gethostname() and pid_alive(int(info["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def run_info(name: str, run: Path) -> RunInfo:
    """Status and headline numbers of one run, from small files only (config, latest train state, eval)."""
    try:
        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        config = {}
    config = config if isinstance(config, dict) else {}
    data = config.get("data", {})
    train = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    ckpts = committed(run / "checkpoints")
    state = _read_json(ckpts[-1] / "train_state.json") if ckpts else None
    step = state.get("step") if isinstance(state, dict) else None
    if holder_alive(run):
        status = "running"
    elif not ckpts:
        status = "failed"
    else:
        steps, budget = train.get("steps"), train.get("time_budget_s")
        seconds = state.get("train_seconds", 0) if isinstance(state, dict) else 0
        reached = (isinstance(budget, (int, float)) and budget > 0 and seconds >= budget - 1) or \
            (not budget and isinstance(steps, int) and isinstance(step, int) and step >= steps)
        status = "finished" if reached else "stopped"
    evaluation = _read_json(run / "eval" / "metrics.json")
    metrics = headline(evaluation) if isinstance(evaluation, dict) else {}
    if not metrics:  # the last validation point, when periodic evaluation ran
        for line in reversed(_tail_lines(run / "metrics.jsonl")):
            rec = _loads(line)
            vals = {k: v for k, v in rec.items() if k.startswith("val/") and isinstance(v, (int, float))
                    and k != "val/n"} if isinstance(rec, dict) else {}
            if vals:
                metrics = {k: round(v, 4) for k, v in vals.items()}
                break
    return RunInfo(name, str(config.get("model", "?")),
                   str(data.get("name", "?")) if isinstance(data, dict) else str(data),
                   step if isinstance(step, int) else None, status, metrics, ckpts[-1].name if ckpts else None)


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _tail_lines(path: Path, limit: int = 65536) -> list[str]:
    """The last lines of a file (its last ``limit`` bytes): a long run's metrics.jsonl is not read whole."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace").splitlines()[1 if size > limit else 0:]
    except OSError:
        return []


def artefacts(run: Path) -> dict[str, Path]:
    """The files of a run the app may serve, by path relative to the run ("samples/final.png"): allowlisted
    extensions, inside the run once symlinks are resolved, no hidden files (the lock)."""
    root = run.resolve()
    out: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            p = Path(folder) / f
            if f.startswith(".") or f == LOCK_NAME or p.suffix.lower() not in SERVED:
                continue
            real = p.resolve()
            if real.is_file() and real.is_relative_to(root):
                out[p.relative_to(root).as_posix()] = real
    return out
