"""Generative models, created by name: ``dgm.models.create("vae", data.info, latent_dim=20)``."""
from . import autoencoder, vae  # noqa: F401  (registers the models)
from . import autoregressive, flows  # noqa: F401  (registers pixelcnn, gated-pixelcnn, nice, realnvp, glow)
from . import gan  # noqa: F401,E402  (registers the GAN variants)
from .base import Batch, GenerativeModel, HasELBO, HasLogProb, LatentGenerator, LatentModel, OptimizerGroup
from .registry import build_config, create, models, register_model

__all__ = ["Batch", "GenerativeModel", "HasELBO", "HasLogProb", "LatentGenerator", "LatentModel", "OptimizerGroup",
           "build_config", "create", "models", "register_model"]
