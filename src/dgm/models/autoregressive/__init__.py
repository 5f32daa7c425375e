"""Autoregressive image models with exact likelihoods: PixelCNN and Gated PixelCNN, naive and cached samplers."""
from . import gated, pixelcnn  # noqa: F401  (registers the models)
from .gated import GatedPixelCNN, GatedPixelCNNNet
from .model import AutoregressiveImageModel
from .pixelcnn import PixelCNN, PixelCNNNet
from .sampling import naive_sample

__all__ = ["AutoregressiveImageModel", "GatedPixelCNN", "GatedPixelCNNNet", "PixelCNN", "PixelCNNNet",
           "naive_sample"]
