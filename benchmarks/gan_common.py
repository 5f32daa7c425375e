"""A step clock for side-by-side throughput rounds (gan_speed.py): timed steps after a warm-up, and a callback
that ends a Trainer's round when the clock says so. Training for a budget is the trainer's own
(``train.time_budget_s``); quality benchmarks run `dgm train` (cli_run.py).

Not a benchmark itself.
"""
from __future__ import annotations

import dataclasses
import time

import common  # noqa: F401  (puts src/ on sys.path when needed)

from dgm.train.callbacks import Callback


class Clock:
    """Counts steps; times the steps after ``warmup``; ``done`` once ``seconds`` of them (or ``max_steps``
    steps in all) have passed."""

    def __init__(self, seconds: float, warmup: int = 0, max_steps: int | None = None):
        self.seconds, self.warmup, self.max_steps = seconds, warmup, max_steps
        self.steps, self.t0, self.elapsed = 0, None, 0.0
        if warmup == 0:
            self.t0 = time.perf_counter()

    def tick(self) -> bool:
        """Call after each step; True when the round is over."""
        self.steps += 1
        if self.steps == self.warmup:
            self.t0 = time.perf_counter()
            return False
        if self.t0 is not None:
            self.elapsed = time.perf_counter() - self.t0
        timed_out = self.t0 is not None and self.elapsed >= self.seconds
        return timed_out or (self.max_steps is not None and self.steps >= self.max_steps)

    @property
    def timed_steps(self) -> int:
        return self.steps - self.warmup

    def rate(self) -> float:
        """Timed steps per second."""
        return self.timed_steps / max(self.elapsed, 1e-9)


class StopWhen(Callback):
    """Ends ``trainer.fit()`` cleanly when the clock says so (on_fit_end still runs)."""

    def __init__(self, clock: Clock):
        self.clock = clock

    def on_step_end(self, trainer, logs):
        if self.clock.tick():  # the loop runs while step < total_steps
            trainer.config = dataclasses.replace(trainer.config, steps=trainer.step)


def trainer_round(trainer, config, seconds: float, warmup: int) -> float:
    """One timed round of ``trainer`` continuing where its last round stopped (``config`` with an unbounded step
    count): ``warmup`` untimed steps, then ``seconds`` of timed ones -> timed steps per second."""
    clock = Clock(seconds, warmup=warmup)
    trainer.callbacks = [StopWhen(clock)]
    trainer.config = config  # StopWhen ended the last round by lowering the step count: restore it
    trainer.fit()
    return clock.rate()
