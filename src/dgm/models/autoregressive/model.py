"""What every autoregressive image model shares: the likelihood head chosen from the data, the exact
log-likelihood, class conditioning, and sampling with a naive or a cached ("fast") sampler."""
from __future__ import annotations

import copy
from typing import Callable, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ..base import Batch, GenerativeModel, class_marginal
from ..likelihoods import LikelihoodHead, make_head
from .sampling import draw_noise, naive_sample, to_input

Likelihood = Literal["auto", "bernoulli", "categorical", "logistic_mixture"]


def resolve_head(likelihood: str, info: DatasetInfo, mixtures: int) -> LikelihoodHead:
    """'auto': Bernoulli for binary data (binarized-mnist), the discretised logistic mixture for 8-bit."""
    if info.kind == "points" or len(info.shape) != 3:
        raise ConfigError(f"autoregressive image models need images (C, H, W); {info.name} has shape {info.shape}")
    name = likelihood if likelihood != "auto" else ("bernoulli" if info.kind == "binary" else "logistic_mixture")
    return make_head(name, 3, mixtures=mixtures)


class AutoregressiveImageModel(GenerativeModel):
    """p(x) = prod_i p(x_i | x_<i) over pixels in raster order and channels R, G, B; ``net`` maps the
    network input (B, C, H, W) in [-1, 1] (plus an optional conditioning vector) to head parameters
    (B, P*C, H, W). Subclasses build ``net`` and name their cached sampler in ``fast_sampler``.

    ``log_prob`` is exact, of the discrete data: binary pixels (Bernoulli head) or 8-bit values given as
    k / 255 (categorical or logistic-mixture head).
    """

    default_train = {"lr": 1e-3, "batch_size": 64, "steps": 20_000}
    fast_sampler: ClassVar[Callable]  # (net, head, noise, cond, progress) -> images; a staticmethod
    contract = {"image_shape": (1, 8, 8)}  # sampling is one network pass per pixel: 64 passes in tests, not 784

    def __init__(self, config, info: DatasetInfo):
        super().__init__(config, info)
        self.head = resolve_head(config.likelihood, info, config.mixtures)
        self.input_transform = self.head.input_transform
        self.shape = tuple(info.shape)
        self.num_classes = info.num_classes if getattr(config, "class_conditional", False) else 0
        if getattr(config, "class_conditional", False) and info.num_classes <= 0:
            raise ConfigError(f"class_conditional needs labelled data; {info.name} has no classes")
        self.net: nn.Module = self.build_net(config, info.shape[0], self.head.params_per_dim, self.num_classes)

    def build_net(self, config, data_channels: int, params_per_dim: int, cond_dim: int) -> nn.Module:
        raise NotImplementedError

    # --- likelihood -------------------------------------------------------------------------
    def condition(self, labels: torch.Tensor | None, dtype: torch.dtype | None = None) -> torch.Tensor | None:
        """labels (B,) -> the one-hot conditioning vector (B, K), or None for unconditional models."""
        if not self.num_classes or labels is None:
            return None
        return F.one_hot(labels.long(), self.num_classes).to(dtype or self.net_dtype())

    def net_dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def params(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W) in [0, 1] (binary or k / 255) -> head parameters (B, P*C, H, W)."""
        return self.net(to_input(x), self.condition(labels))

    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log P(x) of the discrete data in nats, (B,). A class-conditional model given no labels
        returns the marginal over classes under a uniform class prior (one pass per class)."""
        if self.num_classes and labels is None:
            return class_marginal(self.log_prob, x, self.num_classes)
        return self.head.log_prob(self.params(x, labels).float(), x)  # the head's math in fp32 (bf16 autocast)

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        labels = batch.y if self.num_classes else None
        return {"loss": -self.log_prob(batch.x, labels).mean()}

    # --- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               sampler: Literal["fast", "naive"] = "fast", progress: bool | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1]. ``sampler``: "fast" (cached, about one forward pass per image)
        or "naive" (a forward pass per value); both give the same images for the same generator, unless
        rounding differences flip a draw whose uniform lies within ~1e-6 (float32) or ~1e-15 (``dtype=
        torch.float64``) of a CDF boundary. Class-conditional models draw uniform labels (from ``generator``)
        when none are given.
        ``progress``: a bar over rows (None: on a terminal only).
        """
        if sampler not in ("fast", "naive"):
            raise ConfigError(f"sampler {sampler!r} is not one of 'fast', 'naive'")
        if self.num_classes and labels is None:
            labels = torch.randint(self.num_classes, (n,), generator=generator)
        noise = draw_noise(n, self.shape, self.head, generator, dtype, self.device)
        labels = labels.to(self.device) if labels is not None else None
        net = self.net if dtype == self.net_dtype() else copy.deepcopy(self.net).to(dtype)
        was_training = net.training
        net.eval()
        cond = self.condition(labels, dtype)
        try:
            if sampler == "naive":
                return naive_sample(lambda inp: net(inp, cond), self.head, noise, progress)
            return type(self).fast_sampler(net, self.head, noise, cond, progress)
        finally:
            net.train(was_training)
