"""Wall-clock training budgets for the benchmark scripts: a callback that ends ``Trainer.fit()`` cleanly after
a budget and anneals the learning rate by elapsed time, and one that records a test learning curve without
charging its evaluation time to the budget.

Not a benchmark itself; imported by vae_binarized_mnist.py, pixelcnn_binarized_mnist.py and flow_mnist.py.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from types import SimpleNamespace

import common  # noqa: F401  (puts src/ on sys.path when needed)
import torch

import dgm.models as m
import dgm.train as t
from dgm.metrics import negative_log_likelihood
from dgm.train.callbacks import Callback


class TimeBudget(Callback):
    """Stops training after ``budget_s`` seconds (or ``max_steps``) and anneals the lr by elapsed time."""

    def __init__(self, budget_s: float, lr: float, lr_min: float, schedule: str, max_steps: int | None):
        self.budget_s, self.lr, self.lr_min, self.schedule = budget_s, lr, lr_min, schedule
        self.max_steps = max_steps
        self.t0 = self.t_end = 0.0
        self.steps0 = 0

    def on_fit_start(self, trainer):
        self.t0, self.steps0 = time.perf_counter(), trainer.step

    def lr_at(self, frac: float) -> float:
        if self.schedule == "cosine":
            return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * min(frac, 1.0)))
        return self.lr

    def on_step_end(self, trainer, logs):
        elapsed = time.perf_counter() - self.t0
        if elapsed >= self.budget_s or (self.max_steps is not None and trainer.step >= self.max_steps):
            self.t_end = elapsed
            # the loop runs `while step < total_steps`: ending it here is a clean stop (on_fit_end still runs)
            trainer.config = dataclasses.replace(trainer.config, steps=trainer.step)
            return
        lr = self.lr_at(elapsed / self.budget_s)
        for opt in trainer.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr


class LearningCurve(Callback):
    """Every ``every_s`` seconds of training: ``metric`` ("nll_nats" or "bits_per_dim") of ``data`` (a test
    subset), appended to ``points`` as [train seconds, step, value]; the evaluation time is given back to the
    budget. ``seed`` fixes the test set's binarisation or dequantisation."""

    def __init__(self, budget: TimeBudget, data, every_s: float, metric: str = "nll_nats", seed: int = 0):
        self.budget, self.data, self.every_s, self.metric, self.seed = budget, data, every_s, metric, seed
        self.points: list[list[float]] = []
        self.next_at = every_s

    def evaluate(self, trainer) -> None:
        t0 = time.perf_counter()
        trainer.model.eval()
        value = negative_log_likelihood(trainer.model, self.data, batch_size=250, seed=self.seed)[self.metric]
        trainer.model.train()
        train_s = t0 - self.budget.t0
        self.points.append([round(train_s, 1), trainer.step, round(value, 4)])
        print(f"  {train_s:7.0f} s  step {trainer.step:6d}  test-subset {self.metric} {value:.4f}",
              file=sys.stderr)
        self.budget.t0 += time.perf_counter() - t0  # evaluation is not training time

    def on_step_end(self, trainer, logs):
        if time.perf_counter() - self.budget.t0 >= self.next_at:
            self.evaluate(trainer)
            self.next_at += self.every_s


def spread_subset(data, n: int):
    """n images evenly spaced through ``data``: test splits are ordered (the first 1000 of binarized MNIST's test
    split carry 30% more ink than the rest and score ~10 nats worse), so a prefix is a biased curve."""
    step = max(len(data) // n, 1)
    return data.subset(torch.arange(0, len(data), step)[:n])


def fit_with_curve(args, arch: dict, train, test, run_dir, threads: int, metric: str = "nll_nats",
                   curve_seed: int = 0, **train_values) -> SimpleNamespace:
    """Train registered model ``args.model`` (architecture ``arch`` updated by ``args.set``) on ``train`` for
    ``args.budget_s`` seconds with Adam on a time-based schedule, recording ``metric`` on a spread test subset.
    Returns model, config, trainer, curve, last logs, fit_s (wall) and train_s (budgeted training time)."""
    t.seed_everything(args.seed)
    arch = {**arch, **dict(kv.split("=", 1) for kv in args.set)}
    config = m.build_config(args.model, arch)
    model = m.create(args.model, train.info, config=config)
    cfg = t.TrainConfig(steps=10**9, batch_size=args.batch_size, lr=args.lr, seed=args.seed, log_every=200,
                        grad_clip=args.grad_clip, **train_values)
    trainer = t.Trainer(model, train, cfg, run_dir=run_dir, model_name=args.model, progress=False)
    budget = TimeBudget(args.budget_s, args.lr, args.lr_min, args.schedule, args.max_steps)
    curve = LearningCurve(budget, spread_subset(test, args.curve_n), args.curve_every_s or args.budget_s / 10,
                          metric=metric, seed=curve_seed)
    trainer.callbacks[:0] = [budget, curve]  # first, so the other callbacks see the shortened run
    params = sum(p.numel() for p in model.parameters())
    print(f"training {args.model} ({params} parameters) for {args.budget_s:g} s on {threads} threads; "
          f"run dir {run_dir}", file=sys.stderr)
    t0 = time.perf_counter()
    last = trainer.fit()
    fit_s = time.perf_counter() - t0
    return SimpleNamespace(model=model, config=config, trainer=trainer, curve=curve, last=last, params=params,
                           fit_s=fit_s, train_s=budget.t_end or fit_s)
