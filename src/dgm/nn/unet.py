"""The denoising UNet of DDPM / improved DDPM (Ho et al. 2020; Nichol & Dhariwal 2021), sized for 28x28 and 32x32:
residual blocks with GroupNorm and the time (and class) embedding added between their convolutions, multi-head
self-attention at chosen resolutions, strided-conv downsampling and nearest-neighbour upsampling, skip
connections from every down-path block to the up path. The last conv of every residual branch and the output
conv start at zero, so the network starts as a (near) identity on its skips and outputs 0."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of (B,) timesteps -> (B, dim) float: [cos(t f_k), sin(t f_k)], f_k geometric from 1
    down to 1 / max_period (the Transformer's, as DDPM uses)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups of at least 4 channels (the largest such divisor of ``channels``): the
    embedding is added per channel before a GroupNorm, and a group of one channel would normalise it away."""
    groups = next(g for g in range(max(1, min(32, channels // 4)), 0, -1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """x (B, C_in, H, W), emb (B, E) -> (B, C_out, H, W): norm-act-conv, + Linear(emb), norm-act-dropout-conv (zero
    initialised), plus x (through a 1x1 conv when the widths differ)."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.in_layers = nn.Sequential(group_norm(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3,
                                                                                     padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_channels))
        self.out_layers = nn.Sequential(group_norm(out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        zero(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb(emb)[:, :, None, None].to(x.dtype)
        return self.skip(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """x (B, C, H, W) -> x + proj(MultiHeadAttention(norm(x))) over the H*W positions, heads of C / heads
    channels; the projection starts at zero."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention over {channels} channels needs a head count dividing it, got {heads}")
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        o = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C / heads)
        return x + self.proj(o.transpose(-1, -2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """(B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)) by a stride-2 3x3 conv (28 -> 14 -> 7)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """(B, C, h, w) -> (B, C, H, W) of the matching down-path map: nearest-neighbour resize, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class UNetEncoder(nn.Module):
    """The down path of a UNet and its middle, with the time (and label) embedding: x (B, C, H, W), t (B,) long,
    labels (B,) long or None -> (lowest-resolution features, skips). The UNet adds its up path; the noise-aware
    classifier of classifier guidance adds a pooled linear head (Dhariwal & Nichol 2021 use the UNet's encoder
    half)."""

    def __init__(self, in_channels: int, channels: int = 64, channel_mult: tuple[int, ...] = (1, 2, 2),
                 blocks: int = 2, attention_levels: tuple[int, ...] = (2,), heads: int = 4, dropout: float = 0.1,
                 num_classes: int | None = None):
        super().__init__()
        emb_dim = 4 * channels
        self.channels, self.num_classes = channels, num_classes
        self.time_embed = nn.Sequential(nn.Linear(channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.down = nn.ModuleList()
        widths, ch = [channels], channels
        for level, mult in enumerate(channel_mult):
            for _ in range(blocks):
                layers = nn.ModuleList([ResBlock(ch, channels * mult, emb_dim, dropout)])
                ch = channels * mult
                if level in attention_levels:
                    layers.append(AttentionBlock(ch, heads))
                self.down.append(layers)
                widths.append(ch)
            if level != len(channel_mult) - 1:
                self.down.append(nn.ModuleList([Downsample(ch)]))
                widths.append(ch)
        self.middle = nn.ModuleList([ResBlock(ch, ch, emb_dim, dropout), AttentionBlock(ch, heads),
                                     ResBlock(ch, ch, emb_dim, dropout)])
        self.widths, self.width = widths, ch  # each skip's width; the middle's

    def embed(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """(B, 4 * channels) embedding of timesteps and (optional) labels; None labels are the null label."""
        emb = self.time_embed(timestep_embedding(t, self.channels))
        if self.label_embed is not None:
            if labels is None:
                labels = torch.full_like(t, self.num_classes)
            emb = emb + self.label_embed(labels)
        return emb

    def encode(self, x: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(middle features (B, width, h, w), the down path's outputs for the skips)."""
        h = self.stem(x)
        skips = [h]
        for layers in self.down:
            for layer in layers:
                h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        for layer in self.middle:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return h, skips


class UNet(UNetEncoder):
    """eps/x0/v network: x (B, C, H, W), t (B,) long, labels (B,) long or None -> (B, out_channels, H, W).

    ``channel_mult`` sets each resolution's width (base ``channels`` times it), ``attention_levels`` the levels
    (0 = full resolution) with self-attention after each residual block. With ``num_classes``, a label embedding
    (one extra row: the null label ``num_classes``, for classifier-free guidance) is added to the time embedding;
    labels=None means the null label."""

    def __init__(self, in_channels: int, out_channels: int, channels: int = 64,
                 channel_mult: tuple[int, ...] = (1, 2, 2),
                 blocks: int = 2, attention_levels: tuple[int, ...] = (2,), heads: int = 4, dropout: float = 0.1,
                 num_classes: int | None = None):
        super().__init__(in_channels, channels, channel_mult, blocks, attention_levels, heads, dropout, num_classes)
        emb_dim, widths, ch = 4 * channels, list(self.widths), self.width
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(blocks + 1):
                layers = nn.ModuleList([ResBlock(ch + widths.pop(), channels * mult, emb_dim, dropout)])
                ch = channels * mult
                if level in attention_levels:
                    layers.append(AttentionBlock(ch, heads))
                if level and i == blocks:
                    layers.append(Upsample(ch))
                self.up.append(layers)
        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), zero(nn.Conv2d(ch, out_channels, 3, padding=1)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(t, labels)
        h, skips = self.encode(x, emb)
        for layers in self.up:
            skip = skips.pop()
            for layer in layers:
                if isinstance(layer, ResBlock):
                    h = layer(torch.cat([h, skip], dim=1), emb)
                elif isinstance(layer, Upsample):
                    h = layer(h, skips[-1].shape[-2:])
                else:
                    h = layer(h)
        return self.out(h)


class NoisyClassifier(UNetEncoder):
    """The noise-aware classifier of classifier guidance (Dhariwal & Nichol 2021): a UNet's encoder half on x_t
    with the time embedding, then GroupNorm, SiLU, global average pooling and a linear layer:
    x_t (B, C, H, W), t (B,) long -> logits (B, num_classes)."""

    def __init__(self, in_channels: int, num_classes: int, channels: int = 32,
                 channel_mult: tuple[int, ...] = (1, 2, 2), blocks: int = 1, attention_levels: tuple[int, ...] = (2,), heads: int = 4, dropout: float = 0.0):
        super().__init__(in_channels, channels, channel_mult, blocks, attention_levels, heads, dropout)
        self.head = nn.Sequential(group_norm(self.width), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(self.width, num_classes))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x, self.embed(t, None))[0])
