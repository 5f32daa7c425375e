"""Learning-rate schedules and the training clock.

A schedule is a factor in (0, 1] of each optimizer group's base learning rate, a pure function of the
schedule's progress ``p`` in [0, 1] (steps done / total steps, or training seconds / ``time_budget_s``) and of
the step (for the warm-up). Being pure, it needs no state of its own in a checkpoint: a resumed run recomputes
it from the restored step and training seconds, so a step-clocked schedule resumes exactly.
"""
from __future__ import annotations

import contextlib
import math
import re
import time
from typing import Iterator

from .config import TrainConfig


def decay_progress(cfg: TrainConfig, p: float) -> float:
    """Progress of the decay phase: 0 until ``lr_decay_start``, then linear to 1 at p = 1."""
    p = min(max(p, 0.0), 1.0)
    return max(0.0, (p - cfg.lr_decay_start) / (1.0 - cfg.lr_decay_start))


def lr_factor(cfg: TrainConfig, p: float, step: int) -> float:
    """The factor of every group's base lr at schedule progress ``p`` in [0, 1] and global ``step``.

    constant: 1; cosine: m + (1 - m)(1 + cos(pi q)) / 2; linear: 1 - (1 - m) q, with q the decay progress
    and m = lr_min / lr (so a group at train.lr ends at lr_min, others at the same fraction of their base);
    step: lr_gamma ** (number of lr_milestones <= p). A linear warm-up multiplies by (step + 1) / lr_warmup
    during the first lr_warmup steps.
    """
    m = cfg.lr_min / cfg.lr
    q = decay_progress(cfg, p)
    if cfg.lr_schedule == "cosine":
        f = m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * q))
    elif cfg.lr_schedule == "linear":
        f = 1.0 - (1.0 - m) * q
    elif cfg.lr_schedule == "step":
        f = cfg.lr_gamma ** sum(1 for milestone in cfg.lr_milestones if p >= milestone)
    else:
        f = 1.0
    if step < cfg.lr_warmup:
        f *= (step + 1) / cfg.lr_warmup
    return f


def schedule_by_time(cfg: TrainConfig) -> bool:
    """Whether the schedule's progress is training time (else steps)."""
    return cfg.schedule_clock == "time" or (cfg.schedule_clock == "auto" and cfg.time_budget_s is not None)


class TrainClock:
    """Training seconds: wall time while running, minus paused spans (evaluation), plus the seconds a resumed
    run had already trained."""

    def __init__(self, seconds: float = 0.0):
        self.offset, self.started, self.paused_s = float(seconds), None, 0.0

    def start(self) -> None:
        self.started, self.paused_s = time.perf_counter(), 0.0

    def stop(self) -> None:
        """Fold the running span into the offset (e.g. at the end of fit, before a later fit resumes)."""
        self.offset, self.started = self.seconds(), None

    def seconds(self) -> float:
        if self.started is None:
            return self.offset
        return self.offset + time.perf_counter() - self.started - self.paused_s

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside is not training time."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.paused_s += time.perf_counter() - t0


def parse_duration(text: str) -> float:
    """'900', '900s', '15m', '1h30m', '1.5h' -> seconds (> 0); ValueError otherwise."""
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d*)?", s):
        value = float(s)
    else:
        parts = re.findall(r"(\d+(?:\.\d*)?)\s*(h|m|s)", s)
        if not parts or re.sub(r"(\d+(?:\.\d*)?)\s*(h|m|s)", "", s).strip():
            raise ValueError(f"{text!r} is not a duration; use e.g. 900, 900s, 15m or 1h30m")
        value = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if not value > 0:
        raise ValueError(f"duration must be > 0, got {text!r}")
    return value
