"""Exponential moving average of a model's parameters and buffers (e.g. the BigGAN/StyleGAN generator)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """shadow <- decay * shadow + (1 - decay) * weights after each step; buffers are copied."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int | None) -> float:
        """The decay of the update at ``step``: with warm-up (step given), min(decay, (1 + t) / (10 + t)), the
        ramp of TensorFlow's ExponentialMovingAverage(num_updates=t), so a short run's average is not dominated
        by the random initial weights (0.999 ** 2000 still gives them 14%); without, the constant decay."""
        return self.decay if step is None else min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int | None = None) -> None:
        """shadow <- d * shadow + (1 - d) * weights, d = ``decay_at(step)``; buffers are copied."""
        src = [p.detach() for p in model.parameters()]
        dst = list(self.model.parameters())
        torch._foreach_lerp_(dst, src, 1.0 - self.decay_at(step))
        for b_dst, b_src in zip(self.model.buffers(), model.buffers()):
            b_dst.copy_(b_src)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
