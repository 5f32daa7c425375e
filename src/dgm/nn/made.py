"""MADE (Germain et al. 2015): a fully connected network whose weight masks make output i depend only on inputs
before i in a given order, optionally on a context vector everywhere (IAF's encoder features h)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """A linear layer whose weight (out, in) is multiplied by a fixed 0/1 mask."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        if mask.shape != (out_features, in_features):
            raise ValueError(f"mask {tuple(mask.shape)} does not fit a {in_features} -> {out_features} layer")
        self.register_buffer("mask", mask.float(), persistent=False)  # rebuilt from the degrees, never stored

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def hidden_degrees(width: int, dim: int) -> torch.Tensor:
    """Degrees 1..dim-1 of a hidden layer's units, cycled so every degree has units (width,) int64 (dim 1: all 0,
    units that see no input)."""
    if dim == 1:
        return torch.zeros(width, dtype=torch.long)
    return torch.arange(width) % (dim - 1) + 1


class MADE(nn.Module):
    """x: (B, D) [, context (B, H)] -> (B, outputs, D): for every position i of ``order`` (a permutation of 0..D-1;
    default 0..D-1), ``outputs`` values that depend on x only through the positions before i in that order
    (and on the whole context). ``hidden``: widths of the masked hidden layers (ELU between them)."""

    def __init__(self, dim: int, hidden: tuple[int, ...], outputs: int = 2, context_dim: int = 0,
                 order: torch.Tensor | None = None):
        super().__init__()
        order = torch.arange(dim) if order is None else torch.as_tensor(order)
        if sorted(order.tolist()) != list(range(dim)):
            raise ValueError(f"order must be a permutation of 0..{dim - 1}")
        self.dim, self.outputs = dim, outputs
        self.register_buffer("order", order.long(), persistent=False)
        rank = torch.empty(dim, dtype=torch.long)
        rank[order] = torch.arange(1, dim + 1)  # input i has degree = its 1-based place in the order
        degrees, layers, width = rank, [], dim
        for h in hidden:
            d = hidden_degrees(h, dim)
            layers.append(MaskedLinear(width, h, (d[:, None] >= degrees[None, :])))
            degrees, width = d, h
        out_degrees = rank.repeat(outputs)  # output k * D + i belongs to position i
        layers.append(MaskedLinear(width, outputs * dim, (out_degrees[:, None] > degrees[None, :])))
        self.layers = nn.ModuleList(layers)
        self.context = nn.Linear(context_dim, hidden[0] if hidden else outputs * dim) if context_dim else None

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i == 0 and self.context is not None:
                if context is None:
                    raise ValueError("this MADE was built with a context; pass one")
                h = h + self.context(context)
            if i < len(self.layers) - 1:
                h = F.elu(h)
        return h.unflatten(-1, (self.outputs, self.dim))
