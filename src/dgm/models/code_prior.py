"""Priors over the codes of a discrete autoencoder, the second stage of VQ-VAE, VQ-VAE-2 and VQGAN:
p(codes) = prod_j p(level j | levels < j), each factor autoregressive over its code map in raster order, by a
decoder-only transformer (the level's codes after those of the coarser levels, one sequence) or a gated PixelCNN
(the coarser levels, embedded and upsampled, as a conditioning map known at every position). For VQ-VAE-2 that
is a top prior and a bottom prior conditioned on the top codes, each a network of its own.

The prior trains on code datasets (``dgm.codes``: kind "codes", (N, L) indices, every level flattened, top
first). Its samples are codes decoded by the autoencoder, which ``dgm.runs`` attaches when it builds or loads
the prior; the autoencoder's weights stay in its own run, never in the prior's checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..config import positive
from ..data.dataset import DatasetInfo
from ..errors import ConfigError
from ..nn.transformer import CausalTransformer
from .autoregressive.fast_gated import sample_gated_stacks
from .autoregressive.gated import GatedPixelCNNNet
from .autoregressive.sequence_sampling import cached_sequence_sample, draw_tokens, naive_sequence_sample
from .base import Batch, DiscreteCodes, GenerativeModel, class_marginal
from .registry import register_model


@dataclass(frozen=True)
class CodePriorConfig:
    """The network of each level's factor and its size; ``class_conditional``: a class prefix (transformer)
    or a class vector (gated PixelCNN)."""

    prior: Literal["transformer", "gated-pixelcnn"] = "transformer"
    width: int = 256  # transformer: model width; gated PixelCNN: feature maps per stack (and code embedding)
    layers: int = 4
    heads: int = 4  # transformer only
    dropout: float = 0.1  # transformer only
    kernel: int = 3  # gated PixelCNN only (its first layer: 2 * kernel + 1)
    class_conditional: bool = False

    def __post_init__(self):
        for name in ("width", "layers", "heads", "kernel"):
            positive(name, getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.prior == "transformer" and self.width % self.heads:
            raise ConfigError(f"width {self.width} must be divisible by heads {self.heads}")


class ConditionStack(nn.Module):
    """The coarser levels' embedded codes (B, M, h, w) -> a conditioning map (B, W, h, w) for a gated PixelCNN
    level: two unmasked 3x3 convolutions plus a term from the mean over all positions, so every position sees
    every coarser code (the codes are known in full: no mask applies)."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.pooled = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        return self.conv2(h) + self.pooled(h.mean((2, 3)))[:, :, None, None]


class CodeDraw:
    """Codes drawn by inverse CDF (``draw_tokens``) in the likelihood heads' sampling interface, for the cached
    gated sampler: theta (B, K) logits, u (B, 1) uniforms -> codes (B,) as floats."""

    noise_dims = 1

    def __init__(self, num_codes: int, temperature: float = 1.0):
        self.params_per_dim, self.temperature = num_codes, temperature

    def quantile(self, theta: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return draw_tokens(theta, u[..., 0], self.temperature).to(u.dtype)


class CodePrior(GenerativeModel):
    """codes (B, L) long in [0, K) -> exact log p(codes) in nats; samples: codes decoded to images (B, C, H, W)."""

    Config = CodePriorConfig
    input_transform = "codes"
    default_train = {"lr": 3e-4, "batch_size": 128, "steps": 20_000}
    tiny = {"width": 8, "layers": 1, "heads": 2, "dropout": 0.0}
    contract = {"data": "codes"}
    trains_on_codes = True  # `dgm train code-prior --autoencoder RUN`
    sample_batch = 250

    def __init__(self, config: CodePriorConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.kind != "codes" or not info.codes:
            raise ConfigError(f"code-prior models an autoencoder's codes, not {info.name}; train it with "
                              "`dgm train code-prior --autoencoder RUN` (a vqvae or vqvae2 run)")
        self.num_codes = int(info.codes["num_codes"])
        self.levels = [tuple(s) for s in info.codes["levels"]]
        self.num_classes = info.num_classes if config.class_conditional else 0
        if config.class_conditional and not info.num_classes:
            raise ConfigError(f"class_conditional needs labelled data; {info.codes['dataset']} has no classes")
        sizes = [h * w for h, w in self.levels]
        self.starts = [sum(sizes[:j]) for j in range(len(sizes))]  # where each level's codes begin
        self.ends = [s + n for s, n in zip(self.starts, sizes)]
        if self.ends[-1] != info.shape[0]:
            raise ConfigError(f"code maps {self.levels} hold {self.ends[-1]} codes, the data {info.shape[0]}")
        k, w = self.num_codes, config.width
        if config.prior == "transformer":
            self.nets = nn.ModuleList(
                CausalTransformer(k, end, w, config.layers, config.heads, config.dropout, max(1, self.num_classes))
                for end in self.ends)
        else:
            self.embed = nn.ModuleList(nn.Embedding(k, w) for _ in self.levels)
            self.cond_embed = nn.ModuleList(nn.Embedding(k, w) for _ in self.levels[1:])
            self.cond_stack = nn.ModuleList(ConditionStack(w * j, w) for j in range(1, len(self.levels)))
            self.nets = nn.ModuleList(
                GatedPixelCNNNet(1, k, w, config.layers, config.kernel, 2 * config.kernel + 1, w, self.num_classes,
                                 in_channels=w, map_channels=w if j else 0) for j in range(len(self.levels)))
        self._autoencoder: list[GenerativeModel] = []  # a list: not a submodule, so not in the prior's weights

    # --- the autoencoder ---------------------------------------------------------------------
    def attach_autoencoder(self, autoencoder: GenerativeModel) -> None:
        """The autoencoder whose codes this prior models (same K and code maps); it decodes the samples."""
        shapes = [tuple(s) for s in getattr(autoencoder, "code_shapes", [])]
        if not isinstance(autoencoder, DiscreteCodes) or autoencoder.num_codes != self.num_codes \
                or shapes != self.levels:
            raise ConfigError(f"this prior models {self.num_codes} codes on maps {self.levels}; the autoencoder "
                              f"given has {getattr(autoencoder, 'num_codes', None)} on {shapes}")
        self._autoencoder[:] = [autoencoder.eval()]

    @property
    def autoencoder(self) -> GenerativeModel:
        if not self._autoencoder:
            raise ConfigError("this code prior has no autoencoder to decode its samples; load it with "
                              "dgm.runs.load_run (or call attach_autoencoder)")
        return self._autoencoder[0].to(self.device)

    # --- likelihood ----------------------------------------------------------------------------
    def _prefix(self, n: int, labels: torch.Tensor | None) -> torch.Tensor:
        if self.num_classes and labels is not None:
            return labels.long().to(self.device)
        return torch.zeros(n, dtype=torch.long, device=self.device)

    def _maps(self, codes: torch.Tensor, level: int) -> torch.Tensor:
        """Level ``level`` of codes (B, L) -> (B, h, w)."""
        return codes[:, self.starts[level]:self.ends[level]].reshape(len(codes), *self.levels[level])

    def _condition_map(self, codes: torch.Tensor, level: int) -> torch.Tensor | None:
        """The coarser levels' codes, embedded, upsampled (nearest) to level ``level``'s map and mixed by its
        ``ConditionStack``: (B, width, h, w), or None for the first level."""
        if level == 0:
            return None
        size = self.levels[level]
        parts = [F.interpolate(self.cond_embed[level - 1](self._maps(codes, i)).permute(0, 3, 1, 2), size=size)
                 for i in range(level)]
        return self.cond_stack[level - 1](torch.cat(parts, 1))

    def _class_vector(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """The gated PixelCNN's conditioning vector: one-hot labels (B, classes), or None when unconditional."""
        if not self.num_classes or labels is None:
            return None
        return F.one_hot(labels.long().to(self.device), self.num_classes).to(self.embed[0].weight.dtype)

    def level_logits(self, codes: torch.Tensor, level: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """codes (B, L) long -> logits (B, h*w, K) of level ``level``'s codes, each given the earlier ones."""
        if self.config.prior == "transformer":
            logits = self.nets[level](codes[:, :self.ends[level]], self._prefix(len(codes), labels))
            return logits[:, self.starts[level]:]
        x = self.embed[level](self._maps(codes, level)).permute(0, 3, 1, 2)
        logits = self.nets[level](x, self._class_vector(labels), self._condition_map(codes, level))  # (B, K, h, w)
        return logits.flatten(2).transpose(1, 2)

    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log p(codes) in nats, (B,), for codes (B, L) long; a class-conditional prior given no labels
        returns the marginal under a uniform class prior."""
        if self.num_classes and labels is None:
            return class_marginal(self.log_prob, x, self.num_classes)
        total = 0.0
        for level in range(len(self.levels)):
            logp = torch.log_softmax(self.level_logits(x, level, labels).float(), -1)
            total = total + logp.gather(-1, x[:, self.starts[level]:self.ends[level], None]).sum((1, 2))
        return total

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        nll = -self.log_prob(batch.x, batch.y if self.num_classes else None).mean()
        return {"loss": nll, "bits_per_code": nll.detach() / (batch.x.shape[1] * math.log(2))}

    # --- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_codes(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
                     temperature: float = 1.0, sampler: str = "auto", progress: bool | None = None) -> torch.Tensor:
        """n code sequences (n, L) long, level by level; every code drawn by inverse CDF from uniforms drawn up
        front, so the cached samplers (the transformer's key/value cache, the gated PixelCNN's stack caches)
        and the naive ones draw the same codes."""
        if sampler not in ("auto", "cached", "naive"):
            raise ConfigError(f"sampler {sampler!r} is not one of auto, cached, naive")
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        if self.num_classes and labels is None:
            labels = torch.randint(self.num_classes, (n,), generator=generator)
        u = torch.rand(n, self.ends[-1], generator=generator).to(self.device)
        codes = torch.zeros(n, self.ends[-1], dtype=torch.long, device=self.device)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():  # cheaper per operation than no_grad: the sampling steps are small
                for level in range(len(self.levels)):
                    self._draw_level(codes, level, u, labels, temperature, sampler, progress)
        finally:
            self.train(was_training)
        return codes

    def _draw_level(self, codes: torch.Tensor, level: int, u: torch.Tensor, labels: torch.Tensor | None,
                    temperature: float, sampler: str, progress: bool | None) -> None:
        """Draw level ``level``'s codes into ``codes`` (B, L) given the coarser ones, from the uniforms u (B, L)."""
        start, end = self.starts[level], self.ends[level]
        if self.config.prior == "transformer":
            draw = naive_sequence_sample if sampler == "naive" else cached_sequence_sample
            codes[:, start:end] = draw(self.nets[level], self._prefix(len(codes), labels), u[:, :end], temperature,
                                       progress, codes[:, :start] if start else None)[:, start:]
        elif sampler != "naive":
            net, (h, w) = self.nets[level], self.levels[level]
            drawn = sample_gated_stacks(
                list(net.layers), net.out1, net.out2, CodeDraw(self.num_codes, temperature),
                u[:, start:end].reshape(len(codes), 1, h, w, 1), self._class_vector(labels), progress,
                cond_map=self._condition_map(codes, level), embed=self.embed[level])
            codes[:, start:end] = drawn.flatten(1).long()
        else:
            for t in tqdm(range(start, end), desc=f"sample level {level}", unit="code", leave=False,
                          disable=None if progress is None else not progress):  # a full pass per code
                codes[:, t] = draw_tokens(self.level_logits(codes, level, labels)[:, t - start], u[:, t], temperature)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, L) long -> the autoencoder's decoded images (B, C, H, W) in [0, 1]."""
        maps = [self._maps(codes, level) for level in range(len(self.levels))]
        return self.autoencoder.decode(maps[0] if len(maps) == 1 else tuple(maps))

    @torch.no_grad()
    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               temperature: float = 1.0, sampler: Literal["auto", "cached", "naive"] = "auto",
               progress: bool | None = None) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1]: codes drawn from the prior (``sampler``: "cached", the transformer's
        key/value cache or the gated PixelCNN's stack caches, or "naive", a full pass per code; "auto": cached),
        decoded by the autoencoder."""
        return self.decode_codes(self.sample_codes(n, labels, generator, temperature, sampler, progress))

    def sample_semantics(self, options):
        return "decoder means of codes drawn from the prior"


register_model("code-prior", CodePrior, "a prior over a VQ-VAE's (or VQ-VAE-2's) codes, by transformer or gated "
               "PixelCNN: dgm train code-prior --autoencoder RUN")
