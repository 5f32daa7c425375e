"""The noise-aware classifier of classifier guidance (Dhariwal & Nichol 2021): p_phi(y | x_t, t) for the x_t of
one diffusion's forward process, trained by cross-entropy on x_t = q_sample(x_0, t) at uniformly drawn t. It
is a model for the trainer (loss, EMA, budget, checkpoints) but not a generative one: it is not in the model
registry, `dgm train-classifier RUN` builds it for the diffusion run RUN, and ``load_classifier`` checks that
its schedule is the diffusion's before guidance uses it."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from ...config import from_dict, positive
from ...data.dataset import DatasetInfo
from ...errors import CheckpointError, ConfigError
from ...nn.unet import NoisyClassifier
from ..base import Batch, GenerativeModel
from .schedule import NoiseSchedule

NAME = "noisy-classifier"  # the checkpoint's model name


@dataclass(frozen=True)
class ClassifierConfig:
    schedule: Literal["linear", "cosine"] = "linear"  # the diffusion's (copied from its run)
    steps: int = 1000  # the diffusion's T
    channels: int = 32  # encoder base width
    channel_mult: tuple[int, ...] = (1, 2, 2)
    blocks: int = 1
    attention_levels: tuple[int, ...] = (2,)
    heads: int = 4
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("steps", "channels", "blocks", "heads"):
            positive(name, getattr(self, name))
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout must be in [0, 1)")
        if any(not 0 <= lv < len(self.channel_mult) for lv in self.attention_levels):
            raise ConfigError(f"attention_levels must be in 0..{len(self.channel_mult) - 1}")


class GuidanceClassifier(GenerativeModel):
    """x_t in [-1, 1] (B, C, H, W), network time t (B,) long -> class logits (B, num_labels)."""

    Config = ClassifierConfig
    input_transform = "symmetric"
    default_train = {"lr": 3e-4, "batch_size": 128, "steps": 5000, "ema_decay": 0.999, "grad_clip": 1.0,
                     "weight_decay": 0.05, "optimizer": "adamw"}

    def __init__(self, config: ClassifierConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.num_classes < 2 or len(info.shape) != 3:
            raise ConfigError(f"a guidance classifier needs labelled images; {info.name} has "
                              f"{info.num_classes} classes and shape {info.shape}")
        self.num_labels = info.num_classes
        self.schedule = NoiseSchedule.named(config.schedule, config.steps)
        self.net = NoisyClassifier(info.shape[0], info.num_classes, config.channels, tuple(config.channel_mult),
                                   config.blocks, tuple(config.attention_levels), config.heads, config.dropout)

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(xt, t.to(xt.device))

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        if batch.y is None:
            raise ConfigError("a guidance classifier trains on labelled data")
        x0 = batch.x
        t = torch.randint(0, self.config.steps, (len(x0),), device=x0.device)
        logits = self(self.schedule.q_sample(x0, t, torch.randn_like(x0)), t)
        ce = F.cross_entropy(logits.float(), batch.y)
        return {"loss": ce, "accuracy": (logits.argmax(1) == batch.y).float().mean().detach()}

    @torch.no_grad()
    def accuracy(self, x0: torch.Tensor, labels: torch.Tensor, t: int, generator: torch.Generator | None = None,
                 batch: int = 500) -> float:
        """Fraction of x_t = q_sample(x0, t) (x0 (N, C, H, W) in [-1, 1]) classified as ``labels`` (N,)."""
        right = 0
        for i in range(0, len(x0), batch):
            x = x0[i:i + batch].to(self.device)
            noise = torch.randn(x.shape, generator=generator).to(x)
            tt = torch.full((len(x),), t, device=x.device)
            right += int((self(self.schedule.q_sample(x, tt, noise), tt).argmax(1).cpu() == labels[i:i + batch])
                         .sum())
        return right / len(x0)

    def sample(self, n: int, *, labels=None, generator=None) -> torch.Tensor:
        raise ConfigError("a guidance classifier does not sample; pass it to a diffusion run's sampling with "
                          "`dgm sample RUN --classifier DIR`")


def for_diffusion(diffusion_config: Any, values: dict[str, Any] | None = None) -> ClassifierConfig:
    """The classifier config for a diffusion model's config: its schedule and T, network settings ``values``."""
    values = dict(values or {})
    for key in ("schedule", "steps"):
        if key in values and values[key] != getattr(diffusion_config, key):
            raise ConfigError(f"model.{key}={values[key]} differs from the diffusion's {key} "
                              f"({getattr(diffusion_config, key)}): guidance needs the classifier on its x_t")
    return from_dict(ClassifierConfig, {**values, "schedule": diffusion_config.schedule,
                                        "steps": diffusion_config.steps})


def load_classifier(path: str | Path, diffusion: Any, device: torch.device | str = "cpu",
                    ema: bool = True) -> GuidanceClassifier:
    """The trained classifier in ``path`` (its run or checkpoint directory), checked against the ``diffusion``
    model it will guide (same schedule, T, image shape and classes); eval mode on ``device``."""
    from ...train.checkpoint import read_checkpoint
    from ...train.trainer import load_weights

    ckpt = read_checkpoint(path, with_train_state=False)
    cfg = ckpt.config
    if cfg.get("model") != NAME:
        raise ConfigError(f"{path} is a {cfg.get('model')!r} run, not a guidance classifier; train one with "
                          "`dgm train-classifier RUN --out DIR`")
    try:
        info = DatasetInfo.from_dict(cfg["data"])
        model = GuidanceClassifier(from_dict(ClassifierConfig, cfg["model_config"]), info)
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: config.json is corrupt ({e})") from None
    mine, theirs = model.config, diffusion.config
    if (mine.schedule, mine.steps) != (theirs.schedule, theirs.steps):
        raise ConfigError(f"{path} was trained on a {mine.schedule} schedule of {mine.steps} steps, the diffusion "
                          f"uses {theirs.schedule} with {theirs.steps}; train a classifier for this run")
    if tuple(info.shape) != tuple(diffusion.shape):
        raise ConfigError(f"{path} classifies images {tuple(info.shape)}, the diffusion draws {diffusion.shape}")
    load_weights(model, ckpt.ema if ema and ckpt.ema is not None else ckpt.model, ckpt.path)
    return model.eval().to(device)


def noise_levels(steps: int) -> list[int]:
    """The network times at which a classifier's accuracy is reported: t = 1, T/4, T/2, 3T/4 (0-based)."""
    return sorted({0, *(math.floor(steps * f) - 1 for f in (0.25, 0.5, 0.75))})
