"""Training tricks for discriminators: one-sided label smoothing and instance noise (functions of the step),
minibatch standard deviation (Karras et al. 2018) and minibatch discrimination (Salimans et al. 2016) (layers
appended to the discriminator's features, so D can see the diversity of a batch)."""
from __future__ import annotations

import torch
from torch import nn


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
