"""Self-attention over the positions of a feature map (Zhang et al. 2019, SAGAN)."""
from __future__ import annotations

import torch
from torch import nn


class SelfAttention2d(nn.Module):
    """x: (B, C, H, W) -> x + gamma * attention(x), same shape; gamma starts at 0 (the block starts as identity).

    Queries and keys have C/8 channels, values C/2 (as in SAGAN/BigGAN); attention is over all H*W positions,
    so memory grows as (H*W)^2 per image: use it on small maps (e.g. 14x14 or 16x16).
    """

    def __init__(self, channels: int):
        super().__init__()
        qk, v = max(1, channels // 8), max(1, channels // 2)
        self.query = nn.Conv2d(channels, qk, 1, bias=False)
        self.key = nn.Conv2d(channels, qk, 1, bias=False)
        self.value = nn.Conv2d(channels, v, 1, bias=False)
        self.out = nn.Conv2d(v, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2)  # (B, C/8, N)
        k = self.key(x).flatten(2)  # (B, C/8, N)
        v = self.value(x).flatten(2)  # (B, C/2, N)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N, N): row i attends over positions j
        o = (v @ attn.transpose(1, 2)).view(b, -1, h, w)  # (B, C/2, H, W)
        return x + self.gamma * self.out(o)
