"""Generative adversarial networks: one ``GAN`` class composed from parts, registered under the names of
its papers' variants (gan, dcgan, cgan, acgan, lsgan, wgan, wgan-gp, hinge-gan, sngan, sagan, biggan-small,
infogan, unrolled-gan, stylegan, stylegan2, progan). Parts: ``objectives``, ``penalties``, ``regularisers``, ``tricks``, ``latents``,
networks (``mlp_nets``, ``conv_nets``, ``resnet_nets``, heads in ``critic``) and ``unrolled``."""
from . import conv_nets, mlp_nets, progan_nets, resnet_nets, style_nets  # noqa: F401  (register the architectures)
from . import presets  # noqa: F401  (registers the models)
from .config import GANConfig
from .latents import Latents, draw_latents, truncated_normal
from .model import GAN
from .objectives import get_objective, objectives

__all__ = ["GAN", "GANConfig", "Latents", "draw_latents", "truncated_normal", "get_objective", "objectives"]
