"""Trainer callbacks: progress bar, metrics log (JSONL + TensorBoard), sample grids, periodic checkpoints."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .trainer import Trainer

log = logging.getLogger("dgm.train")


class Callback:
    def on_fit_start(self, trainer: "Trainer") -> None: ...
    def on_step_end(self, trainer: "Trainer", logs: dict[str, torch.Tensor]) -> None: ...
    def on_fit_end(self, trainer: "Trainer") -> None: ...
    def close(self, trainer: "Trainer") -> None:
        """Release resources; runs after on_fit_end and also when training stops early (signal, error)."""


class Throughput:
    """Samples per second over a window of steps."""

    def __init__(self):
        self.t, self.n = time.perf_counter(), 0

    def add(self, n: int) -> None:
        self.n += n

    def rate(self) -> float:
        now = time.perf_counter()
        r = self.n / max(now - self.t, 1e-9)
        self.t, self.n = now, 0
        return r


class ProgressBar(Callback):
    """tqdm bar with live loss terms, samples/s and the last validation value (refreshed every ``every``
    steps); in training seconds when only a time budget bounds the run, else in steps."""

    def __init__(self, every: int = 25):
        self.every, self.bar, self.speed, self.by_time = every, None, Throughput(), False

    def on_fit_start(self, trainer):
        from tqdm.auto import tqdm

        self.by_time = not trainer.bounded_by_steps
        total, initial, unit = (int(trainer.config.time_budget_s), int(trainer.clock.seconds()), "s") \
            if self.by_time else (trainer.total_steps, trainer.step, "step")
        self.bar = tqdm(total=total, initial=initial, desc=f"train {trainer.model_name}", unit=unit,
                        dynamic_ncols=True, file=sys.stderr, disable=None)
        self.speed = Throughput()

    def position(self, trainer) -> int:
        return min(int(trainer.clock.seconds()), self.bar.total) if self.by_time else trainer.step

    def on_step_end(self, trainer, logs):
        self.speed.add(trainer.global_batch)
        if trainer.step % self.every == 0 or trainer.done():
            post = {k: f"{float(v):.4g}" for k, v in list(logs.items())[:4]}
            post.update({k: f"{v:.4g}" for k, v in trainer.last_eval.items()})
            post["samples/s"] = f"{self.speed.rate():.0f}"
            if self.by_time:
                post["step"] = str(trainer.step)
            self.bar.set_postfix(post, refresh=False)
            self.bar.update(self.position(trainer) - self.bar.n)

    def close(self, trainer):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line to RUN/metrics.jsonl, the run's one metrics file (training means and
    validation points alike; a resume from an earlier step trims it, dgm.runs.set_aside_later_checkpoints)."""
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


class MetricsLogger(Callback):
    """Every ``log_every`` steps: the mean of each logged value, samples/s and lr to metrics.jsonl (and
    TensorBoard when installed). NaN values are written as they are, never filtered."""

    def __init__(self, run_dir: Path, every: int):
        self.run_dir, self.every = run_dir, every
        self.sums: dict[str, torch.Tensor] = {}
        self.count, self.speed, self.tb = 0, Throughput(), None

    def on_fit_start(self, trainer):
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        except Exception:  # tensorboard is an optional extra
            self.tb = None
        trainer.tensorboard = self.tb  # shared with the periodic evaluation
        self.speed = Throughput()

    def on_step_end(self, trainer, logs):
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1
        self.speed.add(trainer.global_batch)
        if trainer.step % self.every == 0 or trainer.done():
            self.flush(trainer)

    def flush(self, trainer):
        if not self.count:
            return
        record: dict[str, Any] = {"step": trainer.step, "epoch": trainer.epoch,
                                  "train_s": round(trainer.clock.seconds(), 2)}
        record.update({k: float(v) / self.count for k, v in self.sums.items()})
        record["samples_per_s"] = round(self.speed.rate(), 1)
        record["lr"] = {n: o.param_groups[0]["lr"] for n, o in trainer.optimizers.items()}
        record["nonfinite_skipped"] = trainer.nonfinite_total
        append_metrics(self.run_dir, record)
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, float):
                    self.tb.add_scalar(k, v, trainer.step)
        self.sums, self.count = {}, 0

    def close(self, trainer):
        self.flush(trainer)
        if self.tb is not None:
            self.tb.close()
            self.tb = None


class SampleGrid(Callback):
    """PNG grids of samples from a fixed seed: samples/step-N.png every ``every`` steps, and final.png."""

    def __init__(self, run_dir: Path, every: int, n: int, seed: int = 1234):
        self.dir, self.every, self.n, self.seed = run_dir / "samples", every, n, seed

    def write(self, trainer, name: str) -> Path:
        from ..viz.grids import save_samples

        model = trainer.sampling_model
        was_training = model.training
        model.eval()
        with torch.no_grad(), trainer.clock.paused():  # drawing grids is not training time
            samples = model.sample(self.n, generator=torch.Generator().manual_seed(self.seed))
        model.train(was_training)
        return save_samples(samples, self.dir / name)

    def on_step_end(self, trainer, logs):
        if self.every and trainer.step % self.every == 0 and not trainer.done():
            self.write(trainer, f"step-{trainer.step}.png")

    def on_fit_end(self, trainer):
        path = self.write(trainer, "final.png")
        log.info("samples written to %s", path)


class PeriodicCheckpoint(Callback):
    """Commit a checkpoint every ``every`` steps and at the end of training."""

    def __init__(self, every: int):
        self.every = every

    def on_step_end(self, trainer, logs):
        if self.every and trainer.step % self.every == 0 and not trainer.done():
            trainer.save_checkpoint()

    def on_fit_end(self, trainer):
        path = trainer.save_checkpoint()
        log.info("checkpoint written to %s", path)


def default_callbacks(trainer: "Trainer", progress: bool = True) -> list[Callback]:
    """Progress bar; with a run directory the metrics log and sample grids; periodic validation when
    configured; then checkpoints (last, so a checkpoint holds what the others updated this step)."""
    from .evaluation import PeriodicEval

    cfg = trainer.config
    cbs: list[Callback] = [ProgressBar()] if progress else []
    if trainer.run_dir is not None:
        cbs += [MetricsLogger(trainer.run_dir, cfg.log_every),
                SampleGrid(trainer.run_dir, cfg.sample_every, cfg.num_samples)]
    if cfg.eval_every or cfg.eval_every_s:
        if trainer.val_data is None:
            from ..errors import ConfigError

            raise ConfigError("periodic evaluation (train.eval_every / eval_every_s) needs validation data; "
                              "`dgm train` loads it, the Python API takes Trainer(..., val_data=...)")
        cbs.append(PeriodicEval(trainer.val_data, cfg.eval_every, cfg.eval_every_s, cfg.eval_n, cfg.keep_best))
    if trainer.run_dir is not None:
        cbs.append(PeriodicCheckpoint(cfg.checkpoint_every))
    return cbs
