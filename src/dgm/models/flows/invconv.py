"""Invertible 1x1 convolutions (Kingma & Dhariwal 2018): a learned channel mixing, plain or LU-decomposed."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bijector import Bijector, bijectors


def random_rotation(channels: int) -> torch.Tensor:
    """A random orthogonal (C, C) matrix (log|det| = 0), from the global RNG."""
    q, _ = torch.linalg.qr(torch.randn(channels, channels))
    return q


class InvConv1x1(Bijector):
    """y = W x at every pixel of (B, C, H, W); ladj = H * W * log|det W| (slogdet, O(C^3))."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(random_rotation(channels))

    def matrix(self) -> torch.Tensor:
        return self.weight

    def log_abs_det(self) -> torch.Tensor:
        return torch.linalg.slogdet(self.weight)[1]

    def forward(self, x):
        w = self.matrix()
        ladj = x.shape[2] * x.shape[3] * self.log_abs_det()
        return F.conv2d(x, w[:, :, None, None]), ladj.expand(x.shape[0])

    def inverse(self, y):
        w_inv = torch.linalg.inv(self.matrix())
        return F.conv2d(y, w_inv[:, :, None, None])


class InvConv1x1LU(InvConv1x1):
    """W = P L (U + diag(sign * exp(log_s))) with P fixed, L unit lower and U strictly upper triangular:
    log|det W| = sum(log_s) in O(C)."""

    def __init__(self, channels: int):
        Bijector.__init__(self)
        p, lower, upper = torch.linalg.lu(random_rotation(channels))
        diag = torch.diagonal(upper)
        self.register_buffer("permutation", p)
        self.register_buffer("sign", torch.sign(diag))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1), persistent=False)
        self.lower = nn.Parameter(torch.tril(lower, -1))
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(diag.abs()))

    def matrix(self):
        eye = torch.eye(self.lower.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.t() + torch.diag(self.sign * torch.exp(self.log_s))
        return self.permutation @ lower @ upper

    def log_abs_det(self):
        return self.log_s.sum()


@bijectors.register("invconv", help="invertible 1x1 conv")
def _invconv_example(shape):
    return InvConv1x1(shape[0])


@bijectors.register("invconv-lu", help="invertible 1x1 conv, LU-decomposed")
def _invconv_lu_example(shape):
    return InvConv1x1LU(shape[0])
