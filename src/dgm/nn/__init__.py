"""Reusable layers shared across model families."""
from .conv import ConvDecoder, ConvEncoder
from .mlp import MLP, activation

__all__ = ["MLP", "activation", "ConvEncoder", "ConvDecoder"]
