"""Causal self-attention over the pixels of an image in raster order (PixelSNAIL, Chen et al. 2018)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def strictly_earlier_mask(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, n + 1) bool: row i may attend to the null key (column 0) and to positions j < i (column j + 1)."""
    mask = torch.ones(n, n + 1, dtype=torch.bool, device=device)
    mask[:, 1:] = torch.ones(n, n, dtype=torch.bool, device=device).tril(-1)
    return mask


class CausalPixelAttention(nn.Module):
    """q_in (B, Cq, H, W), kv_in (B, Ckv, H, W) -> (B, out, H, W): at pixel i (raster order), a mix of the values
    of pixels j < i and a learned null value (the first pixel's only choice).

    Keys and values may be any features of the pixels they sit at (PixelSNAIL feeds the input image too), since
    only strictly earlier pixels are seen; queries must come from features of pixels < i alone (the first data
    channel's group of a masked stack), so that the output at i depends on no value of pixel i.
    """

    def __init__(self, q_channels: int, kv_channels: int, out_channels: int, key_dim: int = 16,
                 value_dim: int = 32, heads: int = 1):
        super().__init__()
        self.heads, self.key_dim, self.value_dim = heads, key_dim, value_dim
        self.query = nn.Conv2d(q_channels, heads * key_dim, 1)
        self.key = nn.Conv2d(kv_channels, heads * key_dim, 1)
        self.value = nn.Conv2d(kv_channels, heads * value_dim, 1)
        self.null_key = nn.Parameter(torch.zeros(heads, 1, key_dim))
        self.null_value = nn.Parameter(torch.zeros(heads, 1, value_dim))
        self.out = nn.Conv2d(heads * value_dim, out_channels, 1)

    def _split(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        b = x.shape[0]
        return x.view(b, self.heads, dim, -1).transpose(2, 3)  # (B, heads, N, dim)

    def forward(self, q_in: torch.Tensor, kv_in: torch.Tensor) -> torch.Tensor:
        b, _, h, w = q_in.shape
        q = self._split(self.query(q_in), self.key_dim)
        k = torch.cat([self.null_key.expand(b, -1, -1, -1).to(q.dtype), self._split(self.key(kv_in), self.key_dim)], 2)
        v = torch.cat([self.null_value.expand(b, -1, -1, -1).to(q.dtype),
                       self._split(self.value(kv_in), self.value_dim)], 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=strictly_earlier_mask(h * w, q.device))
        return self.out(y.transpose(2, 3).reshape(b, self.heads * self.value_dim, h, w))
