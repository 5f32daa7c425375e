"""Reusable layers shared across model families."""
from .attention import SelfAttention2d
from .conv import ConvDecoder, ConvEncoder
from .masked import MaskedConv2d, gate, horizontal_conv, pointwise_conv, raster_conv, vertical_conv
from .masked_cache import ConvCache
from .mlp import MLP, activation
from .norms import ConditionalBatchNorm2d
from .resblocks import DownBlock, UpBlock
from .spectral import spectral_normalize

__all__ = ["MLP", "activation", "ConvEncoder", "ConvDecoder", "SelfAttention2d", "ConditionalBatchNorm2d",
           "UpBlock", "DownBlock", "spectral_normalize", "MaskedConv2d", "ConvCache", "gate", "raster_conv",
           "vertical_conv", "horizontal_conv", "pointwise_conv"]
