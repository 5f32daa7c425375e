"""The bijector interface of every flow layer, composition, and the registry the contract tests walk.

A ``Bijector`` is an ``nn.Module`` with ``forward(x) -> (y, log|det dy/dx|)`` (the log-determinant per
example, (B,)) and an exact ``inverse(y) -> x``, like ``torch.distributions`` transforms. ``output_shape``
maps an input event shape to the output's (squeeze and factor-out change it).
"""
from __future__ import annotations

from typing import Callable, ClassVar, Iterable

import torch
from torch import nn

from ...registry import Registry


class Bijector(nn.Module):
    """An invertible map x (B, *shape) -> y (B, *output_shape(shape)) with its log-Jacobian-determinant."""

    domain: ClassVar[str] = "real"  # where inputs live: "real", or "unit" (the open interval (0, 1))
    volume_preserving: ClassVar[bool] = False  # log-determinant 0 for every input (reversible sequences need it)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (y, ladj (B,)) with ladj = log |det dy/dx|."""
        raise NotImplementedError

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)


class Chain(Bijector):
    """Bijectors applied in order; log-determinants add up."""

    def __init__(self, layers: Iterable[Bijector]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        ladj = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, l = layer(x)
            ladj = ladj + l
        return x, ladj

    def inverse(self, y):
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y

    def output_shape(self, shape):
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return tuple(shape)


def batch_sum(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,): the sum over every dimension but the batch."""
    return x.flatten(1).sum(1)


# name -> example factory: event shape (C, H, W), C and H, W even -> a small instance, for the contract tests
bijectors: Registry[Callable[[tuple[int, ...]], Bijector]] = Registry("bijector")
