"""Regularisers added to a player's loss: orthogonal regularisation (Brock et al. 2019, BigGAN),
historical averaging and feature matching (Salimans et al. 2016), path-length regularisation (Karras et al.
2020, StyleGAN2); the registered parts (config section ``regularisers``) are at the end."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from ...config import positive
from ...errors import ConfigError
from .parts import Step, Term, Weighted, regularisers


def orthogonal_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """BigGAN's off-diagonal orthogonal regularisation: sum over weights of ||W W^T * (1 - I)||_F^2.

    Each weight is viewed as W (out, in * k * k), one filter per row: only the cosine-like overlaps between
    different filters are penalised, never their norms. Multiply by beta (1e-4 in BigGAN)."""
    total = None
    for w in weights:
        m = w.flatten(1)
        gram = m @ m.T  # (out, out)
        off = gram - torch.diag_embed(torch.diagonal(gram))
        term = off.pow(2).sum()
        total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


def matrix_weights(module: nn.Module) -> list[torch.Tensor]:
    """The parameters of ``module`` with 2 or more dimensions (conv/linear kernels), embeddings excluded."""
    skip = {id(p) for m in module.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return [p for p in module.parameters() if p.dim() >= 2 and id(p) not in skip]


class HistoricalAverage(nn.Module):
    """Historical averaging (Salimans et al. 2016): ``penalty`` is sum ||theta - theta_bar||^2 where theta_bar is
    the mean of the parameters at the previous calls (the initial values before any); each call then folds the
    current values into the mean. The means are buffers, so they are checkpointed."""

    def __init__(self, params: Iterable[nn.Parameter]):
        super().__init__()
        self._params = list(params)  # not registered: these belong to their own modules
        for i, p in enumerate(self._params):
            self.register_buffer(f"mean{i}", p.detach().clone())
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def means(self) -> list[torch.Tensor]:
        return [getattr(self, f"mean{i}") for i in range(len(self._params))]

    def penalty(self, update: bool = True) -> torch.Tensor:
        """sum ||theta - theta_bar||^2 (differentiable in theta), then fold theta into the mean when ``update``."""
        means = self.means()
        total = sum((p - m).pow(2).sum() for p, m in zip(self._params, means))
        if update:
            with torch.no_grad():
                self.count += 1
                for p, m in zip(self._params, means):
                    m.add_((p.detach() - m) / self.count.float())
        return total


def path_lengths(synthesis, ws: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||J_w^T y|| per sample (B,), differentiable: J the Jacobian of ``synthesis`` (ws (B, L, W) -> images) at
    ``ws``, y (B, C, H, W) a random image direction; the squared norm is averaged over the L layers' styles
    (StyleGAN2's path length). ``ws`` must require grad."""
    images = synthesis(ws)
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
    return grad.pow(2).sum(2).mean(1).sqrt()


def feature_matching(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """||E f(x) - E f(G(z))||^2 over D's intermediate features (B, F); real features are held fixed."""
    return (real_features.detach().mean(0) - fake_features.mean(0)).pow(2).sum()


@regularisers.register("ortho", help="BigGAN (Brock et al. 2019): weight (beta, 1e-4 in the paper) * the off-diagonal "
                       "orthogonal penalty of G's weights")
class OrthogonalTerm(Term):
    players = ("generator",)

    def value(self, player: str, ctx: Step) -> torch.Tensor:
        return orthogonal_penalty(matrix_weights(ctx.model.generator))


@regularisers.register("hist", help="historical averaging (Salimans et al. 2016): weight * ||theta - mean of past "
                       "theta||^2, both players")
class HistoricalAveraging(Term):
    """Keeps one running mean per player (buffers ``discriminator.*`` and ``generator.*``, checkpointed)."""

    players = ("discriminator", "generator")

    def __init__(self, settings, model):
        super().__init__(settings, model)
        self.discriminator = HistoricalAverage(model.critic.parameters())
        self.generator = HistoricalAverage(model.generator.parameters())

    def value(self, player: str, ctx: Step) -> torch.Tensor:
        return getattr(self, player).penalty(update=ctx.model.training)


@regularisers.register("feature_matching", help="feature matching (Salimans et al. 2016): weight * ||E f(x) - "
                       "E f(G(z))||^2 over D's features, added to G's loss")
class FeatureMatchingTerm(Term):
    players = ("generator",)

    def value(self, player: str, ctx: Step) -> torch.Tensor:
        with torch.no_grad():
            real = ctx.model.critic(ctx.batch.x, ctx.labels).features
        return feature_matching(real, ctx.fake_out.features)


@dataclass(frozen=True)
class PathLengthSettings(Weighted):
    """Weighted, plus the decay of the running mean path length and the batch shrink of its own forward."""

    decay: float = 0.01
    batch_shrink: int = 2

    def __post_init__(self):
        super().__post_init__()
        positive("decay", self.decay)
        positive("batch_shrink", self.batch_shrink)


@regularisers.register("path_length", help="path-length regularisation (Karras et al. 2020): weight * E (||J_w^T y|| "
                       "- a)^2, a the running mean, y ~ N(0, I / (H W)); style-based generators (stylegan2)")
class PathLength(Term):
    """Penalises the deviation of ||J_w^T y|| from its running mean ``mean`` (a buffer, checkpointed), on a
    batch of its own (the training batch / ``batch_shrink``), so that a fixed-size step in W changes the image
    by a fixed amount whatever the direction."""

    Settings = PathLengthSettings
    players = ("generator",)

    def __init__(self, settings, model):
        super().__init__(settings, model)
        if not model.style_based and not model.points:  # 2-D points always get the MLP nets: off there
            raise ConfigError("regularisers.path_length needs a style-based generator: set "
                              "networks.architecture=stylegan2 or remove it")
        self.register_buffer("mean", torch.zeros(()))

    def weight_at(self, step: int) -> float:
        return super().weight_at(step) if self.model.style_based else 0.0

    def value(self, player: str, ctx: Step) -> torch.Tensor:
        g, n = ctx.model.generator, max(1, len(ctx.batch.x) // self.settings.batch_shrink)
        labels = ctx.lat.labels[:n] if ctx.lat.labels is not None else None  # the first n of this step's codes
        ws = g.broadcast(g.map(ctx.lat.generator_input(ctx.model.categories)[:n], labels))
        shape = ctx.fake.shape[1:]
        y = torch.randn(n, *shape, device=ws.device) / math.sqrt(math.prod(shape[1:]))
        lengths = path_lengths(g.synthesis, ws, y)
        if ctx.model.training:
            with torch.no_grad():
                self.mean.lerp_(lengths.detach().mean().float(), self.settings.decay)
        return (lengths - self.mean).pow(2).mean()
