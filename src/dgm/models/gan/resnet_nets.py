"""ResNet networks of SNGAN (Miyato et al. 2018), with SAGAN's self-attention (Zhang et al. 2019) and BigGAN's
class-conditional batch norm fed by a shared class embedding and a chunk of z per block (Brock et al. 2019)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...nn import DownBlock, SelfAttention2d, UpBlock
from .networks import NetSpec, architectures, concat_labels, label_maps, stages


class ResNetGenerator(nn.Module):
    """noise (B, Z) [+ labels] -> (B, C, H, W) in [-1, 1]: linear to (channels, H/2^k, W/2^k), k up-blocks,
    BN-ReLU-conv3-tanh. With "cbn" conditioning z is split into k + 1 chunks: the first feeds the linear
    layer, chunk i (with the class embedding) conditions the batch norms of block i."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        c_out, h, w = spec.shape
        k, self.h0, self.w0 = stages(h, w)
        ch = spec.channels
        self.ch, self.k = ch, spec.g_concat
        self.cbn = spec.g_conditioning == "cbn"
        cond_dims = [0] * k
        if self.cbn:
            if spec.noise_dim < k + 1:
                raise ConfigError(f"latent_dim must be >= {k + 1} to give each of {k} blocks a chunk of z")
            self.chunks = [len(c) for c in torch.arange(spec.noise_dim).tensor_split(k + 1)]
            self.embed = nn.Embedding(spec.num_classes, ch)  # shared by every block
            cond_dims = [ch + c for c in self.chunks[1:]]
            first = self.chunks[0]
        else:
            first = spec.noise_dim + self.k
        self.project = nn.Linear(first, ch * self.h0 * self.w0)
        self.blocks = nn.ModuleList(UpBlock(ch, ch, d) for d in cond_dims)
        self.attention = SelfAttention2d(ch) if spec.attention else None
        self.out = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, c_out, 3, 1, 1), nn.Tanh())

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.cbn:
            if labels is None:
                raise ConfigError("this generator is conditional: pass labels")
            zs = noise.split(self.chunks, dim=1)
            emb = self.embed(labels)
            conds = [torch.cat([emb, z], 1) for z in zs[1:]]
            h = self.project(zs[0])
        else:
            conds = [None] * len(self.blocks)
            h = self.project(concat_labels(noise, labels, self.k))
        h = h.view(-1, self.ch, self.h0, self.w0)
        for i, (block, cond) in enumerate(zip(self.blocks, conds)):
            h = block(h, cond)
            if i == 0 and self.attention is not None:
                h = self.attention(h)
        return self.out(h)


class ResNetTrunk(nn.Module):
    """x (B, C, H, W) [+ label maps] -> features (B, channels): k down-blocks (the first "optimised"),
    one more block at the final size, ReLU and global sum pooling (SNGAN)."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        c, h, w = spec.shape
        k, _, _ = stages(h, w)
        ch = spec.channels
        self.k = spec.num_classes if spec.d_concat else 0
        blocks: list[nn.Module] = [DownBlock(c + self.k, ch, down=True, first=True)]
        if spec.attention:
            blocks.append(SelfAttention2d(ch))
        blocks += [DownBlock(ch, ch, down=True) for _ in range(k - 1)]
        blocks.append(DownBlock(ch, ch, down=False))
        self.blocks = nn.Sequential(*blocks)
        self.out_features, self.feature_shape = ch, (ch,)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(label_maps(x, labels, self.k) if self.k else x)
        return F.relu(h).sum(dim=(2, 3))


@architectures.register("resnet", help="SNGAN ResNet G/D (optional self-attention, conditional BN)")
def build(spec: NetSpec) -> tuple[nn.Module, nn.Module]:
    return ResNetGenerator(spec), ResNetTrunk(spec)
