"""The discriminator: an architecture's trunk plus heads. The real/fake logit, the projection term of
Miyato & Koyama (2018), the auxiliary classifier of AC-GAN (Odena et al. 2017) and InfoGAN's Q head
(Chen et al. 2016), all sharing the trunk's features. Optional minibatch features go before the heads."""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
from torch import nn


class CriticOutput(NamedTuple):
    """logits (B,) real/fake score; features (B, F) of the trunk; aux (B, K) class logits or None;
    q (B, K_code + C) InfoGAN code logits then continuous-code means, or None; layer_loss: the sum of the
    feature layers' own losses (feature quantisation's commitment term), or None."""

    logits: torch.Tensor
    features: torch.Tensor
    aux: torch.Tensor | None = None
    q: torch.Tensor | None = None
    layer_loss: torch.Tensor | None = None


class Critic(nn.Module):
    """x (B, ...) and labels (B,) or None -> CriticOutput."""

    def __init__(self, trunk: nn.Module, *, num_classes: int = 0, conditioning: str = "none",
                 categories: int = 0, continuous: int = 0,
                 feature_layers: Sequence[Callable[..., tuple[nn.Module, int] | None]] = (), q_hidden: int = 128):
        """``feature_layers``: functions (features, their shape before flattening) -> (a layer (B, features) ->
        (B, features + extra), extra) or None, applied in order to the trunk's features before the heads (the
        tricks' layers). A layer with a ``loss`` attribute after its call (a scalar) adds it to ``layer_loss``."""
        super().__init__()
        self.trunk = trunk
        f = trunk.out_features
        extra: list[nn.Module] = []
        for make in feature_layers:
            shape = getattr(trunk, "feature_shape", (f,)) if f == trunk.out_features else (f,)
            made = make(f, shape)
            if made is not None:
                extra.append(made[0])
                f += made[1]
        self.extra = nn.Sequential(*extra)
        self.adv = nn.Linear(f, 1)
        self.projection = nn.Embedding(num_classes, f) if conditioning == "projection" else None
        self.aux = nn.Linear(f, num_classes) if conditioning == "auxiliary" else None
        self.q = None
        if categories or continuous:
            self.q = nn.Sequential(nn.Linear(f, q_hidden), nn.LeakyReLU(0.2), nn.Linear(q_hidden, categories + continuous))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> CriticOutput:
        features = self.trunk(x, labels)
        h = self.extra(features)
        losses = [m.loss for m in self.extra if getattr(m, "loss", None) is not None]
        logits = self.adv(h).squeeze(1)
        if self.projection is not None:  # <embed(y), h>: the log density ratio's class-dependent term
            logits = logits + (self.projection(labels) * h).sum(1)
        aux = self.aux(h) if self.aux is not None else None
        q = self.q(h) if self.q is not None else None
        return CriticOutput(logits, features, aux, q, sum(losses) if losses else None)
