"""Normalisation layers: class-conditional batch norm (de Vries et al. 2017; BigGAN's conditional BN) and
virtual batch norm (Salimans et al. 2016)."""
from __future__ import annotations

import contextlib

import torch
from torch import nn


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are linear functions of a conditioning vector.

    x: (B, C, H, W), cond: (B, D) (e.g. a class embedding, optionally with a chunk of z as in BigGAN)
    -> (B, C, H, W) = BN(x) * (1 + gain(cond)) + bias(cond); at initialisation it is plain BN.
    """

    def __init__(self, channels: int, cond_dim: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False, eps=eps, momentum=momentum)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        for layer in (self.gain, self.bias):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(cond)[:, :, None, None]
        return self.bn(x) * gain + self.bias(cond)[:, :, None, None]


class VirtualBatchNorm(nn.Module):
    """Virtual batch norm (Salimans et al. 2016, section 3.4): each example is normalised with the statistics
    of a fixed reference batch together with itself, so an example's output does not depend on the rest of its
    minibatch. x (B, C) or (B, C, H, W); statistics per channel (over H, W too).

    The reference statistics come from the network's own reference pass (``reference_pass``): in that pass the
    layer normalises the reference batch by its own statistics and keeps them (with the graph, as in the paper:
    gradients flow through them); every other call uses mean = (x_i + n mu_ref) / (n + 1) per example, the same
    for the mean of squares. Calling it outside a reference pass before any is an error."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps, self.referencing = eps, False
        self.ref: tuple[torch.Tensor, torch.Tensor, int] | None = None  # (mean (C,), mean of squares (C,), n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0] + list(range(2, x.dim()))  # all but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.referencing:
            mean, meansq = x.mean(dims), x.pow(2).mean(dims)
            self.ref = (mean, meansq, x.shape[0])
        else:
            if self.ref is None:
                raise RuntimeError("VirtualBatchNorm needs a reference pass first (see reference_pass)")
            ref_mean, ref_meansq, n = self.ref
            own = [d for d in dims if d != 0]
            x_mean = x.mean(own) if own else x
            x_meansq = x.pow(2).mean(own) if own else x.pow(2)
            mean = (x_mean + n * ref_mean) / (n + 1)  # (B, C)
            meansq = (x_meansq + n * ref_meansq) / (n + 1)
            shape = [x.shape[0], -1] + [1] * (x.dim() - 2)
        var = (meansq - mean.pow(2)).clamp_min(0)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return out * self.weight.view([1, -1] + [1] * (x.dim() - 2)) + self.bias.view([1, -1] + [1] * (x.dim() - 2))


@contextlib.contextmanager
def reference_pass(module: nn.Module):
    """Within the block, every VirtualBatchNorm in ``module`` takes its statistics from the batch it sees (run the
    reference batch through ``module`` here); after it, they normalise with those statistics."""
    layers = [m for m in module.modules() if isinstance(m, VirtualBatchNorm)]
    for m in layers:
        m.referencing = True
    try:
        yield
    finally:
        for m in layers:
            m.referencing = False
