"""Training settings, shared by every model (models supply their papers' defaults in ``default_train``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import positive
from ..errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to optimise; a model's optimizer groups may override lr/betas/optimizer per group."""

    steps: int | None = None  # total optimisation steps (batches); exclusive with epochs
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    grad_clip: float | None = None  # max global grad norm per group
    ema_decay: float | None = None  # keep an EMA copy of the weights (used for sampling)
    ema_warmup: bool = True  # decay min(ema_decay, (1 + t) / (10 + t)) at step t: early averages forget the init
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocast for the forward pass
    channels_last: bool = False  # channels-last weights and batches: oneDNN's native conv layout (pairs with bf16)
    compile: bool = False  # torch.compile the model's loss (measure per model: not always faster on CPU)
    hflip: bool = False  # random horizontal flips of training images
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
        positive("grad_clip", self.grad_clip)
        positive("log_every", self.log_every)
        positive("sample_every", self.sample_every, allow_zero=True)
        positive("checkpoint_every", self.checkpoint_every, allow_zero=True)
        positive("max_nonfinite", self.max_nonfinite)
        positive("num_samples", self.num_samples)
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if any(not 0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas must be in [0, 1), got {self.betas}")
