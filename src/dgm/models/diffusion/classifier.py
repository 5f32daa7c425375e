"""The noise-aware classifier of classifier guidance (Dhariwal & Nichol 2021): p_phi(y | x_t, t) for the x_t of
one diffusion's forward process, trained by cross-entropy on x_t = q_sample(x_0, t) at uniformly drawn t. It
is a model for the trainer (loss, EMA, budget, checkpoints) but not a generative one: it is not in the model
registry, `dgm train-classifier RUN` builds it for the diffusion run RUN, and ``dgm.runs.load_classifier``
checks that its schedule is the diffusion's before guidance uses it."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from ...config import from_dict
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ...nn.unet import NoisyClassifier
from ..base import Batch, GenerativeModel
from .model import check_network
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
        check_network(self)


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


def noise_levels(steps: int) -> list[int]:
    """The network times at which a classifier's accuracy is reported: t = 1, T/4, T/2, 3T/4 (0-based)."""
    return sorted({0, *(math.floor(steps * f) - 1 for f in (0.25, 0.5, 0.75))})
