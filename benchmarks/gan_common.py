"""Helpers shared by the GAN benchmark scripts: a wall-clock budget for the trainer, a step clock for
side-by-side throughput rounds, and training a registered GAN for a budget.

Not a benchmark itself; imported by gan_toy2d.py, gan_mnist.py and gan_speed.py.
"""
from __future__ import annotations

import dataclasses
import time

import common  # noqa: F401  (puts src/ on sys.path when needed)

import dgm.models as m
import dgm.train as t
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


def train_for(name: str, data, budget_s: float, *, max_steps: int | None = None, seed: int = 0,
              run_dir=None, train_overrides: dict | None = None, model_values: dict | None = None,
              log_every: int = 500) -> tuple[t.Trainer, dict]:
    """Train registered GAN ``name`` (its preset, its paper's training settings unless overridden) on ``data``
    for ``budget_s`` seconds; returns the trainer and a summary (steps, seconds, images/s, last logs)."""
    t.seed_everything(seed)
    model = m.create(name, data.info, **(model_values or {}))
    entry = m.models.get(name)
    settings = {**entry.train, **(train_overrides or {}), "steps": 10**9, "epochs": None, "seed": seed,
                "log_every": log_every}
    trainer = t.Trainer(model, data, t.TrainConfig(**settings), run_dir=run_dir, model_name=name, progress=False)
    clock = Clock(budget_s, max_steps=max_steps)
    trainer.callbacks.insert(0, StopWhen(clock))
    t0 = time.perf_counter()
    last = trainer.fit()
    seconds = time.perf_counter() - t0
    batch = trainer.config.batch_size
    return trainer, {"steps": trainer.step, "train_s": round(clock.elapsed or seconds, 1),
                     "images_per_s": round(trainer.step * batch / max(clock.elapsed or seconds, 1e-9), 1),
                     "batch_size": batch, "nonfinite_skipped": trainer.nonfinite_total,
                     "last": {k: round(v, 4) for k, v in last.items()}}
