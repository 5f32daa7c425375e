"""Training settings, shared by every model (models supply their papers' defaults in ``default_train``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import positive
from ..errors import ConfigError
from .device import check_device_name


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to optimise; a model's optimizer groups may override lr/betas/optimizer per group."""

    steps: int | None = None  # total optimisation steps (batches); exclusive with epochs
    # with neither steps nor epochs: one epoch, or no step limit when time_budget_s is set
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    grad_clip: float | None = None  # max global grad norm per group
    ema_decay: float | None = None  # keep an EMA copy of the weights (used for sampling)
    ema_warmup: bool = True  # decay min(ema_decay, (1 + t) / (10 + t)) at step t: early averages forget the init
    # learning-rate schedule (train/schedule.py): its shape over the schedule's progress p in [0, 1] (steps done /
    # total steps, or training seconds / time_budget_s); every optimizer group follows it from its own base lr
    lr_schedule: Literal["constant", "cosine", "linear", "step"] = "constant"
    lr_min: float = 0.0  # final lr of cosine/linear for a group at train.lr; other groups end at the same fraction
    lr_decay_start: float = 0.0  # cosine/linear: progress at which the decay begins (constant before it)
    lr_milestones: tuple[float, ...] = (0.5, 0.75)  # step: progress points where the lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    lr_warmup: int = 0  # steps of linear warm-up from lr/lr_warmup to the schedule's value
    schedule_clock: Literal["auto", "steps", "time"] = "auto"  # auto: time when time_budget_s is set, else steps
    time_budget_s: float | None = None  # stop after this much training time (evaluation excluded)
    # periodic evaluation on the validation split (train/evaluation.py); never the test split
    eval_every: int = 0  # steps between evaluations (0: off)
    eval_every_s: float = 0.0  # training seconds between evaluations (0: off)
    eval_n: int = 1000  # evenly spread validation examples evaluated (and samples drawn, for FID)
    val_size: int = 5000  # carved from train (at most 10%) when the dataset has no validation split
    keep_best: bool = False  # also keep checkpoints/best/: the best validation value so far
    device: str = "auto"  # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (train/device.py)
    precision: Literal["auto", "fp32", "bf16"] = "fp32"  # bf16 autocast; auto: bf16 where the device runs it natively
    channels_last: bool = False  # channels-last weights and batches: oneDNN's native conv layout (pairs with bf16)
    compile: bool = False  # torch.compile the model's loss (measure per model: not always faster on CPU)
    hflip: bool = False  # random horizontal flips of training images
    sync_batchnorm: bool = False  # several processes (torchrun): batch norm over the global batch, not each shard
    seed: int = 0
    log_every: int = 100
    sample_every: int = 0  # 0: only the final grid
    checkpoint_every: int = 0  # 0: only at the end (and on SIGINT/SIGTERM)
    keep_checkpoints: int = 2
    max_nonfinite: int = 10  # consecutive skipped non-finite steps before aborting (exit 5)
    num_samples: int = 64  # images in each sample grid

    def __post_init__(self):
        if self.steps is not None and self.epochs is not None:
            raise ConfigError("give either steps or epochs, not both")
        positive("steps", self.steps)
        positive("epochs", self.epochs)
        positive("batch_size", self.batch_size)
        positive("lr", self.lr)
        positive("weight_decay", self.weight_decay, allow_zero=True)
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be in [0, 2^63), got {self.seed}")
        positive("grad_clip", self.grad_clip)
        positive("log_every", self.log_every)
        positive("sample_every", self.sample_every, allow_zero=True)
        positive("checkpoint_every", self.checkpoint_every, allow_zero=True)
        positive("max_nonfinite", self.max_nonfinite)
        positive("num_samples", self.num_samples)
        if self.num_samples > 10_000:
            raise ConfigError(f"num_samples {self.num_samples}: a sample grid holds at most 10000 images")
        positive("lr_min", self.lr_min, allow_zero=True)
        positive("lr_warmup", self.lr_warmup, allow_zero=True)
        positive("time_budget_s", self.time_budget_s)
        positive("eval_every", self.eval_every, allow_zero=True)
        positive("eval_every_s", self.eval_every_s, allow_zero=True)
        positive("eval_n", self.eval_n)
        positive("val_size", self.val_size)
        check_device_name(self.device)
        if self.lr_min > self.lr:
            raise ConfigError(f"lr_min {self.lr_min} must not exceed lr {self.lr}")
        if not 0.0 <= self.lr_decay_start < 1.0:
            raise ConfigError(f"lr_decay_start must be in [0, 1), got {self.lr_decay_start}")
        if not 0.0 < self.lr_gamma <= 1.0:
            raise ConfigError(f"lr_gamma must be in (0, 1], got {self.lr_gamma}")
        if any(not 0.0 < m < 1.0 for m in self.lr_milestones) or list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ConfigError(f"lr_milestones must be increasing fractions in (0, 1), got {list(self.lr_milestones)}")
        if self.schedule_clock == "time" and self.time_budget_s is None:
            raise ConfigError("schedule_clock=time needs time_budget_s (e.g. --time-budget 15m)")
        if self.keep_best and not (self.eval_every or self.eval_every_s):
            raise ConfigError("keep_best needs periodic evaluation: set train.eval_every (steps) or train.eval_every_s")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if any(not 0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas must be in [0, 1), got {self.betas}")
