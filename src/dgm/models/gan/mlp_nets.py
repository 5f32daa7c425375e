"""Fully connected generator and discriminator (Goodfellow et al. 2014; the 2-D toy experiments of Metz et al.
2017): ReLU generator, LeakyReLU(0.2) discriminator, for 2-D points or flattened images."""
from __future__ import annotations

import math

import torch
from torch import nn

from ...errors import ConfigError
from ...nn import MLP
from .networks import NetSpec, architectures, concat_labels, label_maps


class MLPGenerator(nn.Module):
    """noise (B, Z) [+ labels] -> points (B, D) (linear) or images (B, C, H, W) in [-1, 1] (tanh)."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.shape, self.points, self.k = spec.shape, spec.points, spec.g_concat
        self.net = MLP(spec.noise_dim + self.k, spec.mlp_hidden, math.prod(spec.shape), act="relu")

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.net(concat_labels(noise, labels, self.k))
        return x if self.points else torch.tanh(x).view(-1, *self.shape)


class MLPTrunk(nn.Module):
    """x (B, ...) [+ one-hot labels] -> features (B, hidden[-1]) after LeakyReLU(0.2) layers."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        widths = spec.mlp_hidden if spec.mlp_hidden_d is None else spec.mlp_hidden_d
        if not widths:
            raise ConfigError("the MLP discriminator needs at least one hidden layer (mlp_hidden / mlp_hidden_d)")
        self.k = spec.num_classes if spec.d_concat else 0
        layers: list[nn.Module] = []
        d = math.prod(spec.shape) + self.k
        for h in widths:
            layers += [nn.Linear(d, h), nn.LeakyReLU(0.2)]
            d = h
        self.net = nn.Sequential(*layers)
        self.out_features, self.feature_shape = d, (d,)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        if self.k:
            h = label_maps(h, labels, self.k)
        return self.net(h)


@architectures.register("mlp", help="fully connected G (ReLU) and D (LeakyReLU 0.2)")
def build(spec: NetSpec) -> tuple[nn.Module, nn.Module]:
    return MLPGenerator(spec), MLPTrunk(spec)
