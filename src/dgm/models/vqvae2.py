"""VQ-VAE-2 (Razavi et al. 2019): two code maps, a coarse top map for global structure and a finer bottom map
for detail, the bottom quantised conditioned on the top (the top map's decoding is an input of the bottom
quantiser), and one decoder from both. For 28x28 images: bottom 14x14, top 7x7.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..config import positive
from ..errors import ConfigError
from ..nn.strided import StridedDecoder, StridedEncoder
from .registry import register_model
from .vqvae import VQVAE, VQVAEConfig


@dataclass(frozen=True)
class VQVAE2Config(VQVAEConfig):
    """A VQ-VAE-2: ``downsample`` stride-2 layers from the image to the bottom map, ``top_downsample`` more to
    the top map; one codebook size K for both levels (the paper's 512)."""

    downsample: int = 1  # 28x28 -> 14x14 bottom codes
    top_downsample: int = 1  # 14x14 -> 7x7 top codes

    def __post_init__(self):
        super().__post_init__()
        positive("top_downsample", self.top_downsample)


def upsampler(channels: int, layers: int) -> nn.Sequential:
    """(B, C, h, w) -> (B, C, h 2^layers, w 2^layers) by 4x4 stride-2 transposed convolutions with ReLUs between."""
    parts: list[nn.Module] = []
    for i in range(layers):
        parts.append(nn.ConvTranspose2d(channels, channels, 4, 2, 1))
        if i < layers - 1:
            parts.append(nn.ReLU())
    return nn.Sequential(*parts)


class VQVAE2(VQVAE):
    """x (B, C, H, W) -> (top codes (B, h_t, w_t), bottom codes (B, h_b, w_b)) -> reconstructions in [0, 1]."""

    Config = VQVAE2Config
    tiny = {"hidden": 8, "res_blocks": 1, "res_hidden": 4, "code_dim": 4, "num_codes": 16, "restart_every": 2}
    level_names = ("_top", "_bottom")

    def build(self, config: VQVAE2Config, shape: tuple[int, int, int]) -> list[tuple[int, int]]:
        c, h, w = shape
        scale = 2 ** (config.downsample + config.top_downsample)
        if h % scale or w % scale:
            raise ConfigError(f"vqvae2: image sides {h}x{w} must be divisible by 2^(downsample + top_downsample) = "
                              f"{scale}; lower model.downsample or model.top_downsample")
        d, hid = config.code_dim, config.hidden
        self.encoder_bottom = StridedEncoder(c, hid, hid, config.downsample, config.res_blocks, config.res_hidden)
        self.encoder_top = StridedEncoder(hid, d, hid, config.top_downsample, config.res_blocks, config.res_hidden)
        self.quantizer_top = self._quantizer(d)
        self.decoder_top = StridedDecoder(d, d, hid, config.top_downsample, config.res_blocks, config.res_hidden)
        self.pre_bottom = nn.Conv2d(hid + d, d, 1)  # the bottom quantiser sees the encoder and the top's decoding
        self.quantizer_bottom = self._quantizer(d)
        self.upsample_top = upsampler(d, config.top_downsample)
        self.decoder = StridedDecoder(2 * d, c * self.head.params_per_dim, hid, config.downsample, config.res_blocks,
                                      config.res_hidden)
        bottom = (h // 2 ** config.downsample, w // 2 ** config.downsample)
        return [(h // scale, w // scale), bottom]

    def quantize(self, x):
        h_bottom = self.encoder_bottom(x)
        z_top = self.encoder_top(h_bottom)
        q_top, i_top, loss_top = self.quantizer_top(z_top)
        z_bottom = self.pre_bottom(torch.cat([h_bottom, self.decoder_top(q_top)], 1))
        q_bottom, i_bottom, loss_bottom = self.quantizer_bottom(z_bottom)
        loss = loss_top * math.prod(z_top.shape[1:]) + loss_bottom * math.prod(z_bottom.shape[1:])
        return [q_top, q_bottom], [i_top, i_bottom], loss

    def decoder_params(self, quantized):
        q_top, q_bottom = quantized
        return self.decoder(torch.cat([q_bottom, self.upsample_top(q_top)], 1))

    def lookup(self, indices):
        return [self.quantizer_top.lookup(indices[0]), self.quantizer_bottom.lookup(indices[1])]


register_model("vqvae2", VQVAE2, "VQ-VAE-2 (Razavi et al. 2019): top (7x7) and bottom (14x14) code maps, the bottom "
               "quantised given the top; samples need code priors")
