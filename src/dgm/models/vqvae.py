"""VQ-VAE (van den Oord et al. 2017): a convolutional encoder, a vector quantiser over its feature map and a
decoder; the codes are a grid of indices into a learned codebook.

Training maximises the decoder's log-likelihood of x given the quantized map plus the quantiser's loss (the
commitment term beta ||z_e - sg(e)||^2; the codebook term too when the codebook learns by gradient), both as
sums over one example, as in the paper's equation (3). New samples need a prior over the code grid, trained
after the autoencoder; on its own, ``sample`` decodes codes drawn independently at each position from how often
training used them, a stand-in that shows what the codebook holds, not the model's samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..config import positive
from ..data.dataset import DatasetInfo
from ..errors import ConfigError
from ..nn.quantizer import VectorQuantizer
from ..nn.strided import StridedDecoder, StridedEncoder
from .base import Batch, GenerativeModel
from .likelihoods import make_head
from .registry import register_model


@dataclass(frozen=True)
class VQVAEConfig:
    """A VQ-VAE: encoder widths, code grid (``downsample`` stride-2 layers), codebook and its updates."""

    hidden: int = 128  # width of the encoder and decoder (the paper: 256 on 128x128 images)
    res_blocks: int = 2
    res_hidden: int = 32
    downsample: int = 2  # stride-2 layers: 28x28 -> 7x7 codes
    code_dim: int = 64  # D, the size of one code vector
    num_codes: int = 512  # K
    beta: float = 0.25  # commitment weight
    ema: bool = True  # codebook by exponential moving averages (appendix A.1), else by gradient
    decay: float = 0.99
    restart_every: int = 100  # training steps between dead-code restarts; 0: never
    restart_below: float = 1.0  # a code chosen fewer times than this since the last check restarts
    kmeans_init: bool = False  # the first batch's encoder outputs set the codebook by k-means
    likelihood: Literal["gaussian", "bernoulli"] = "gaussian"  # gaussian: the MSE of the paper, scaled by 1/2std^2
    gaussian_std: float = 0.1

    def __post_init__(self):
        for name in ("hidden", "res_hidden", "downsample", "code_dim", "num_codes"):
            positive(name, getattr(self, name))
        for name in ("res_blocks", "restart_every", "beta", "restart_below"):
            positive(name, getattr(self, name), allow_zero=True)
        positive("gaussian_std", self.gaussian_std)
        if not 0.0 <= self.decay < 1.0:
            raise ConfigError(f"decay must be in [0, 1), got {self.decay}")


class VQVAE(GenerativeModel):
    """x (B, C, H, W) -> codes (B, H / 2^downsample, W / 2^downsample) in [0, K) -> reconstructions in [0, 1].

    Subclasses with several code maps (VQ-VAE-2) override ``build``, ``quantize``, ``decoder_params`` and
    ``lookup``, which take and return one entry per level; ``encode`` and ``decode`` then take and give a
    tuple of code maps instead of one.
    """

    Config = VQVAEConfig
    default_train = {"lr": 2e-4, "batch_size": 128, "steps": 250_000}  # the paper's Adam settings
    tiny = {"hidden": 8, "res_blocks": 1, "res_hidden": 4, "code_dim": 4, "num_codes": 16, "restart_every": 2}
    validate_by = "reconstruction"
    level_names: tuple[str, ...] = ("",)  # suffixes of the logged codebook statistics, one per level

    def __init__(self, config: VQVAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        if len(info.shape) != 3:
            raise ConfigError(f"{type(self).__name__}: needs images (C, H, W); {info.name} has shape {info.shape}")
        self.num_codes = config.num_codes
        self.head = make_head(config.likelihood, 3, gaussian_std=config.gaussian_std)
        self.input_transform = self.head.input_transform
        self.code_shapes = self.build(config, info.shape)
        # how often training chose each code at each position of each level: the stand-in sampler's frequencies
        for level, shape in enumerate(self.code_shapes):
            self.register_buffer(f"code_counts_{level}", torch.zeros(*shape, config.num_codes))

    def _quantizer(self, dim: int) -> VectorQuantizer:
        cfg = self.config
        return VectorQuantizer(cfg.num_codes, dim, cfg.beta, cfg.ema, cfg.decay, restart_every=cfg.restart_every,
                               restart_below=cfg.restart_below, kmeans_init=cfg.kmeans_init)

    def build(self, config: VQVAEConfig, shape: tuple[int, int, int]) -> list[tuple[int, int]]:
        """Create the networks; -> the code grid's (h, w) of each level."""
        c, h, w = shape
        scale = 2 ** config.downsample
        if h % scale or w % scale:
            raise ConfigError(f"vqvae: image sides {h}x{w} must be divisible by 2^downsample = {scale}; lower "
                              "model.downsample")
        self.encoder = StridedEncoder(c, config.code_dim, config.hidden, config.downsample, config.res_blocks,
                                      config.res_hidden)
        self.quantizer = self._quantizer(config.code_dim)
        self.decoder = StridedDecoder(config.code_dim, c * self.head.params_per_dim, config.hidden,
                                      config.downsample, config.res_blocks, config.res_hidden)
        return [(h // scale, w // scale)]

    def quantize(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """x -> (quantized map of each level, code indices of each level, the quantisers' loss summed over one
        example's code elements, ())."""
        z = self.encoder(x)
        quantized, indices, loss = self.quantizer(z)
        return [quantized], [indices], loss * math.prod(z.shape[1:])

    def decoder_params(self, quantized: list[torch.Tensor]) -> torch.Tensor:
        """Quantized maps of every level -> the likelihood head's parameters (B, P*C, H, W)."""
        return self.decoder(quantized[0])

    def lookup(self, indices: list[torch.Tensor]) -> list[torch.Tensor]:
        """Code indices of every level -> their code vectors."""
        return [self.quantizer.lookup(indices[0])]

    def quantizers(self) -> list[VectorQuantizer]:
        return [m for m in self.modules() if isinstance(m, VectorQuantizer)]

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        quantized, indices, vq_loss = self.quantize(batch.x)
        rec = self.head.log_prob(self.decoder_params(quantized), batch.x)  # (B,) nats
        out = {"loss": -rec.mean() + vq_loss, "recon": -rec.mean().detach(), "vq": vq_loss.detach()}
        with torch.no_grad():
            for level, idx in enumerate(indices):
                counts = getattr(self, f"code_counts_{level}")
                counts.add_(torch.nn.functional.one_hot(idx, self.num_codes).sum(0).to(counts.dtype))
        for name, quantizer in zip(self.level_names, self.quantizers()):
            for key in ("perplexity", "codes_used"):
                out[key + name] = torch.tensor(quantizer.last_stats.get(key, 0.0))
        return out

    def _levels(self, codes) -> list[torch.Tensor]:
        return list(codes) if isinstance(codes, (tuple, list)) else [codes]

    def _codes(self, levels: list[torch.Tensor]):
        return levels[0] if len(levels) == 1 else tuple(levels)

    def encode(self, x: torch.Tensor):
        """x (B, C, H, W) as ``prepare`` gives it -> code indices (B, h, w) long (a tuple of them, top first, for
        several levels)."""
        return self._codes(self.quantize(x)[1])

    def decode(self, codes) -> torch.Tensor:
        """Code indices as ``encode`` gives them -> the decoder's mean images (B, C, H, W) in [0, 1]."""
        return self.head.mean(self.decoder_params(self.lookup(self._levels(codes))))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) as ``prepare`` gives it -> decoder means (B, C, H, W) in [0, 1] of its quantized codes."""
        return self.head.mean(self.decoder_params(self.quantize(x)[0]))

    @torch.no_grad()
    def sample(self, n: int, *, labels=None, generator=None) -> torch.Tensor:
        """Decoder means of code grids drawn independently per position (and level) from the training
        frequencies (uniform before training): (n, C, H, W) in [0, 1]. A stand-in: real samples need a prior."""
        levels = []
        for level, shape in enumerate(self.code_shapes):
            probs = getattr(self, f"code_counts_{level}").flatten(0, 1).float().cpu() + 1e-6  # (h*w, K)
            idx = torch.multinomial(probs, n, replacement=True, generator=generator)  # (h*w, n)
            levels.append(idx.t().reshape(n, *shape).to(self.device))
        return self.decode(self._codes(levels))

    def sample_semantics(self, options):
        return "decoder means of codes drawn per position from their training frequencies (no learned prior)"


register_model("vqvae", VQVAE, "VQ-VAE (van den Oord et al. 2017): 512 EMA codes of size 64 on a 7x7 grid, "
               "dead-code restarts; samples need a code prior")
