"""Reusable layers shared across model families."""
from .attention import SelfAttention2d
from .conv import ConvDecoder, ConvEncoder
from .mlp import MLP, activation
from .norms import ConditionalBatchNorm2d
from .resblocks import DownBlock, UpBlock
from .spectral import spectral_normalize

__all__ = ["MLP", "activation", "ConvEncoder", "ConvDecoder", "SelfAttention2d", "ConditionalBatchNorm2d",
           "UpBlock", "DownBlock", "spectral_normalize"]
