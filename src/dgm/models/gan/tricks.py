"""Training tricks for discriminators: one-sided label smoothing and instance noise (functions of the step),
minibatch standard deviation (Karras et al. 2018) and minibatch discrimination (Salimans et al. 2016) (layers
appended to the discriminator's features, so D can see the diversity of a batch); the registered parts (config
section ``tricks``) are at the end."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import positive
from ...errors import ConfigError
from .parts import Trick, tricks


def real_label(smoothing: float) -> float:
    """One-sided label smoothing: the target for real samples is 1 - smoothing (fakes keep 0)."""
    return 1.0 - smoothing


def instance_noise_std(std0: float, step: int, anneal_steps: int) -> float:
    """Std of the Gaussian noise added to D's inputs (real and fake): std0 decayed linearly to 0 (Sonderby
    et al. 2017), so the supports of the two distributions overlap early in training."""
    return std0 * max(0.0, 1.0 - step / anneal_steps) if std0 > 0 else 0.0


def add_instance_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    return x + std * torch.randn_like(x) if std > 0 else x


class MinibatchStd(nn.Module):
    """features (B, F) -> (B, F + 1): appends the standard deviation of each feature over the batch,
    averaged over features (ProGAN's minibatch std, applied to D's flattened features)."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        std = (h.var(0, unbiased=False) + 1e-8).sqrt().mean()
        return torch.cat([h, std.expand(h.shape[0], 1)], dim=1)


class MinibatchDiscrimination(nn.Module):
    """features (B, F) -> (B, F + kernels): Salimans et al.'s minibatch features.

    M = h T, (B, kernels, dim); o_b(x_i) = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1)."""

    def __init__(self, in_features: int, kernels: int, dim: int = 5):
        super().__init__()
        self.kernels, self.dim = kernels, dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * dim) * 0.1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.dim)  # (B, K, D)
        dist = (m[:, None] - m[None]).abs().sum(-1)  # (B, B, K) L1 distances
        o = torch.exp(-dist).sum(1) - 1.0  # drop the j = i term (exp(0) = 1)
        return torch.cat([h, o], dim=1)


@dataclass(frozen=True)
class SmoothingSettings:
    """amount s in [0, 1): the real target is 1 - s (0: off)."""

    amount: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.amount < 1.0:
            raise ConfigError(f"label smoothing amount must be in [0, 1), got {self.amount}")

    @property
    def active(self) -> bool:
        return self.amount > 0


@tricks.register("label_smoothing", help="one-sided label smoothing (Salimans et al. 2016): real target 1 - amount")
class LabelSmoothing(Trick):
    Settings = SmoothingSettings

    def real_target(self) -> float:
        return real_label(self.settings.amount)


@dataclass(frozen=True)
class NoiseSettings:
    """std of the noise at step 0 (0: off), decayed linearly to 0 over anneal_steps."""

    std: float = 0.0
    anneal_steps: int = 10_000

    def __post_init__(self):
        positive("std", self.std, allow_zero=True)
        positive("anneal_steps", self.anneal_steps)

    @property
    def active(self) -> bool:
        return self.std > 0


@tricks.register("instance_noise", help="instance noise (Sonderby et al. 2017): Gaussian noise on D's inputs, std "
                 "annealed linearly to 0")
class InstanceNoise(Trick):
    Settings = NoiseSettings

    def perturb(self, x: torch.Tensor, step: int) -> torch.Tensor:
        return add_instance_noise(x, instance_noise_std(self.settings.std, step, self.settings.anneal_steps))


@dataclass(frozen=True)
class NoSettings:
    """On when listed (``minibatch_std: {}`` or ``true``)."""


@tricks.register("minibatch_std", help="minibatch standard deviation (Karras et al. 2018) on D's features")
class MinibatchStdTrick(Trick):
    Settings = NoSettings
    order = 0  # before minibatch discrimination: D's feature layers keep their checkpoint names

    def critic_layer(self, features: int, shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        return MinibatchStd(), 1


@dataclass(frozen=True)
class KernelSettings:
    """kernels B and their dimension C of Salimans et al.'s T tensor (kernels 0: off)."""

    kernels: int = 0
    dim: int = 5

    def __post_init__(self):
        positive("kernels", self.kernels, allow_zero=True)
        positive("dim", self.dim)

    @property
    def active(self) -> bool:
        return self.kernels > 0


@tricks.register("minibatch_discrimination", help="minibatch discrimination (Salimans et al. 2016): kernels x dim "
                 "features of each sample's L1 closeness to the rest of the batch")
class MinibatchDiscriminationTrick(Trick):
    Settings = KernelSettings
    order = 1

    def critic_layer(self, features: int, shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        return MinibatchDiscrimination(features, self.settings.kernels, self.settings.dim), self.settings.kernels


class FeatureQuantizer(nn.Module):
    """FQ-GAN's layer (Zhao et al. 2020): D's features (B, F), viewed as (B, C, positions) with their shape
    before flattening, each position's C-vector replaced by its nearest dictionary entry (straight-through
    gradient); the dictionary moves by EMA. The shared ``VectorQuantizer`` of VQ-VAE does the work; ``loss``
    (its commitment term) is kept after each call for D's loss."""

    def __init__(self, shape: tuple[int, ...], codes: int, beta: float, decay: float):
        super().__init__()
        from ...nn.quantizer import VectorQuantizer

        self.shape = shape
        self.quantizer = VectorQuantizer(codes, shape[0], beta=beta, ema=True, decay=decay)
        self.loss: torch.Tensor | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        q, _, self.loss = self.quantizer(h.view(h.shape[0], self.shape[0], -1))
        return q.reshape(h.shape)


@dataclass(frozen=True)
class QuantiserSettings:
    """weight of the commitment loss in D's loss (0: off), dictionary size, commitment beta, EMA decay."""

    weight: float = 0.0
    codes: int = 1024
    beta: float = 0.25
    decay: float = 0.9

    def __post_init__(self):
        positive("weight", self.weight, allow_zero=True)
        positive("codes", self.codes)
        positive("beta", self.beta, allow_zero=True)
        if not 0.0 <= self.decay < 1.0:
            raise ConfigError(f"feature quantisation decay must be in [0, 1), got {self.decay}")

    @property
    def active(self) -> bool:
        return self.weight > 0


@tricks.register("feature_quantisation", help="FQ-GAN (Zhao et al. 2020): D's features quantised against an EMA "
                 "dictionary, the commitment loss in D's loss with this weight")
class FeatureQuantisation(Trick):
    Settings = QuantiserSettings
    order = -1  # on the trunk's own features, before the minibatch layers

    def critic_layer(self, features: int, shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        return FeatureQuantizer(shape, self.settings.codes, self.settings.beta, self.settings.decay), 0
