"""Autoregressive image models with exact likelihoods: PixelCNN, Gated PixelCNN and PixelSNAIL, naive and cached
samplers."""
from . import gated, pixelcnn, pixelsnail  # noqa: F401  (registers the models)
from .gated import GatedPixelCNN, GatedPixelCNNNet
from .model import AutoregressiveImageModel
from .pixelcnn import PixelCNN, PixelCNNNet
from .pixelsnail import PixelSNAIL, PixelSNAILNet
from .sampling import naive_sample

__all__ = ["AutoregressiveImageModel", "GatedPixelCNN", "GatedPixelCNNNet", "PixelCNN", "PixelCNNNet", "PixelSNAIL",
           "PixelSNAILNet", "naive_sample"]
