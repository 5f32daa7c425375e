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

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = [p.detach() for p in model.parameters()]
        dst = list(self.model.parameters())
        torch._foreach_lerp_(dst, src, 1.0 - self.decay)
        for b_dst, b_src in zip(self.model.buffers(), model.buffers()):
            b_dst.copy_(b_src)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
