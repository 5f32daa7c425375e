"""Helpers shared by the GAN benchmark scripts: a wall-clock budget for the trainer, a step clock for
side-by-side throughput rounds, a learning curve measured off the clock, and training a registered GAN for a
budget.

Not a benchmark itself; imported by gan_toy2d.py, gan_mnist.py and gan_speed.py.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from typing import Callable

import common  # noqa: F401  (puts src/ on sys.path when needed)

import dgm.models as m
import dgm.train as t
from dgm.config import parse_assignment
from dgm.errors import ConfigError
from dgm.train.callbacks import Callback


def add_training_options(p) -> None:
    """The options every GAN quality benchmark shares: --set (model config values), --ema-decay, --lr-decay-from."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config value of the preset, e.g. channels=32 or lr_g=1e-3 (repeatable)")
    p.add_argument("--ema-decay", type=float, default=None, help="keep an EMA of the weights and sample from it")
    p.add_argument("--lr-decay-from", type=float, default=None, metavar="FRACTION",
                   help="from this fraction of the budget on, decay both players' learning rates linearly to 0")


def model_values(pairs: list[str]) -> dict:
    """--set ["channels=32", ...] -> {"channels": 32, ...}, parsed as the dgm command parses ``--set``."""
    try:
        return dict(parse_assignment(pair) for pair in pairs)
    except ConfigError as e:
        sys.exit(str(e))


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
    """Ends ``trainer.fit()`` cleanly when the clock says so (on_fit_end still runs). With ``decay_from`` (a
    fraction of the clock's seconds) every optimizer group's learning rate then falls linearly to 0 at the end."""

    def __init__(self, clock: Clock, decay_from: float | None = None):
        self.clock, self.decay_from = clock, decay_from
        self.base_lr: list[list[float]] | None = None

    def on_step_end(self, trainer, logs):
        if self.clock.tick():  # the loop runs while step < total_steps
            trainer.config = dataclasses.replace(trainer.config, steps=trainer.step)
        elif self.decay_from is not None:
            opts = list(trainer.optimizers.values())
            if self.base_lr is None:
                self.base_lr = [[g["lr"] for g in o.param_groups] for o in opts]
            frac = self.clock.elapsed / self.clock.seconds
            scale = min(1.0, (1.0 - frac) / (1.0 - self.decay_from)) if frac > self.decay_from else 1.0
            for o, lrs in zip(opts, self.base_lr):
                for g, lr in zip(o.param_groups, lrs):
                    g["lr"] = lr * max(scale, 0.0)


class Curve(Callback):
    """Every ``every_s`` seconds on the clock: ``measure(trainer) -> dict`` appended to ``points`` with the
    training seconds and step; the time spent measuring is given back to the clock (it is not training)."""

    def __init__(self, clock: Clock, every_s: float, measure: Callable[[t.Trainer], dict]):
        self.clock, self.every_s, self.measure = clock, every_s, measure
        self.points: list[dict] = []
        self.next_at = every_s

    def on_step_end(self, trainer, logs):
        if self.clock.t0 is None or self.clock.elapsed < self.next_at:
            return
        t0 = time.perf_counter()
        point = {"train_s": round(self.clock.elapsed, 1), "step": trainer.step, **self.measure(trainer)}
        self.points.append(point)
        print(f"  curve: {point}", file=sys.stderr, flush=True)
        self.clock.t0 += time.perf_counter() - t0
        self.next_at += self.every_s


def train_for(name: str, data, budget_s: float, *, max_steps: int | None = None, seed: int = 0,
              run_dir=None, train_overrides: dict | None = None, model_values: dict | None = None,
              log_every: int = 500, curve: tuple[float, Callable[[t.Trainer], dict]] | None = None,
              lr_decay_from: float | None = None) -> tuple[t.Trainer, dict]:
    """Train registered GAN ``name`` (its preset, its paper's training settings unless overridden) on ``data``
    for ``budget_s`` seconds; returns the trainer and a summary (steps, seconds, images/s, last logs, and the
    learning curve when ``curve`` = (every_s, measure) is given); ``lr_decay_from``: see ``StopWhen``."""
    t.seed_everything(seed)
    model = m.create(name, data.info, **(model_values or {}))
    entry = m.models.get(name)
    settings = {**entry.train, **(train_overrides or {}), "steps": 10**9, "epochs": None, "seed": seed,
                "log_every": log_every}
    trainer = t.Trainer(model, data, t.TrainConfig(**settings), run_dir=run_dir, model_name=name, progress=False)
    clock = Clock(budget_s, max_steps=max_steps)
    trainer.callbacks.insert(0, StopWhen(clock, lr_decay_from))
    points = None
    if curve:
        trainer.callbacks.insert(1, Curve(clock, *curve))  # after StopWhen has read the clock
        points = trainer.callbacks[1].points
    t0 = time.perf_counter()
    last = trainer.fit()
    seconds = time.perf_counter() - t0
    batch = trainer.config.batch_size
    return trainer, {"steps": trainer.step, "train_s": round(clock.elapsed or seconds, 1),
                     "images_per_s": round(trainer.step * batch / max(clock.elapsed or seconds, 1e-9), 1),
                     "batch_size": batch, "nonfinite_skipped": trainer.nonfinite_total,
                     "last": {k: round(v, 4) for k, v in last.items()}, **({"curve": points} if curve else {})}
