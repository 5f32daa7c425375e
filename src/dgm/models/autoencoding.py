"""The encoder/decoder pair shared by autoencoders and VAEs: MLP or convolutional, any data shape."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..config import positive
from ..errors import ConfigError
from ..nn import MLP, ConvDecoder, ConvEncoder
from .likelihoods import LikelihoodHead, make_head

Activation = Literal["relu", "tanh", "elu", "softplus", "leaky_relu", "silu"]


@dataclass(frozen=True)
class EncoderDecoderConfig:
    """Architecture fields shared by every encoder/decoder model."""

    latent_dim: int = 50
    architecture: Literal["mlp", "conv"] = "mlp"
    hidden: tuple[int, ...] = (200, 200)  # MLP widths, mirrored in the decoder
    conv_channels: tuple[int, ...] = (32, 64)  # conv widths, mirrored in the decoder
    activation: Activation = "tanh"
    likelihood: Literal["auto", "bernoulli", "gaussian", "gaussian_learned", "gaussian_points"] = "auto"
    gaussian_std: float = 0.1  # for likelihood "gaussian"

    def __post_init__(self):
        positive("latent_dim", self.latent_dim)
        positive("gaussian_std", self.gaussian_std)
        for h in self.hidden + self.conv_channels:
            positive("layer width", h)


def resolve_likelihood(cfg: EncoderDecoderConfig, kind: str) -> str:
    """'auto' -> bernoulli for images, gaussian_points for 2-D points."""
    if cfg.likelihood != "auto":
        if kind == "points" and cfg.likelihood != "gaussian_points":
            raise ConfigError(f"likelihood {cfg.likelihood!r} is for images; use gaussian_points for 2-D data")
        return cfg.likelihood
    return "gaussian_points" if kind == "points" else "bernoulli"


class EncoderDecoder(nn.Module):
    """encoder: x (B, *shape) -> (B, enc_out); decoder: z (..., L) -> head params (..., P*C, H, W)."""

    def __init__(self, cfg: EncoderDecoderConfig, shape: tuple[int, ...], kind: str, enc_out: int):
        super().__init__()
        self.shape = tuple(shape)
        self.head: LikelihoodHead = make_head(resolve_likelihood(cfg, kind), len(shape), gaussian_std=cfg.gaussian_std)
        p = self.head.params_per_dim
        self.param_shape = (p * shape[0], *shape[1:])
        if cfg.architecture == "conv" and len(shape) == 3:
            self.encoder = ConvEncoder(shape, cfg.conv_channels, enc_out, cfg.activation)
            self.decoder_net = ConvDecoder(cfg.latent_dim, cfg.conv_channels, self.param_shape, cfg.activation)
        else:
            if cfg.architecture == "conv":
                raise ConfigError("architecture 'conv' needs image data; use architecture=mlp for points")
            d = math.prod(shape)
            self.encoder = nn.Sequential(nn.Flatten(), MLP(d, cfg.hidden, enc_out, cfg.activation))
            self.decoder_net = MLP(cfg.latent_dim, tuple(reversed(cfg.hidden)), p * d, cfg.activation)

    def decoder(self, z: torch.Tensor) -> torch.Tensor:
        """z: (..., L) -> likelihood parameters (..., P*C, H, W)."""
        out = self.decoder_net(z)
        return out.view(*z.shape[:-1], *self.param_shape)


class DecodesThroughHead:
    """What every model built on an ``EncoderDecoder`` (``self.net``, ``self.head``) does alike: codes from the
    encoder, decoder means as images, reconstructions, and samples decoded from given codes as the decoder's
    mean or a draw from its likelihood. Models whose code is not the encoder's output (a VAE's posterior mean)
    override ``encode``."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) as from ``prepare`` -> codes (B, L)."""
        return self.net.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, L) -> decoder means (B, C, H, W) in [0, 1] (points for 2-D data)."""
        return self.head.mean(self.net.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x as from ``prepare`` -> the decoder's mean at x's code (B, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x))

    def decode_samples(self, z: torch.Tensor, mean: bool, generator: torch.Generator | None) -> torch.Tensor:
        """Codes (n, L) -> samples: the decoder's mean (``mean``, as VAE papers show them) or a likelihood draw."""
        params = self.net.decoder(z)
        return self.head.mean(params) if mean else self.head.draw(params, generator)

    def sample_semantics(self, options):
        return "decoder means" if options.get("mean", True) else "draws"
