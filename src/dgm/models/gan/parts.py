"""What a GAN composes besides its networks and objective: penalties (on D's loss), regularisers (on either
player's loss) and tricks (on D's inputs, targets or features), each a registered class with its own settings.

A config names the parts it uses with their settings, e.g. ``penalties: {r1: {weight: 10, every: 16}}``; adding
one is a class here (or in penalties.py / regularisers.py / tricks.py) and a registry line. Loss terms share one
schedule: a term applies at steps ``step >= start`` with ``step % every == 0`` and is then scaled by ``every``
(lazy regularisation, Karras et al. 2020), so its average weight stays ``weight``. A part whose settings switch
it off (weight 0, the default) is dropped from the config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from ...config import from_dict, positive, to_dict
from ...errors import ConfigError
from ...registry import Registry

if TYPE_CHECKING:
    from ..base import Batch
    from .critic import CriticOutput
    from .latents import Latents
    from .model import GAN


@dataclass(frozen=True)
class Weighted:
    """A loss term's settings: weight (0: off), applied every k-th step (scaled by k) from step ``start``."""

    weight: float = 0.0
    every: int = 1
    start: int = 0

    def __post_init__(self):
        positive("weight", self.weight, allow_zero=True)
        positive("every", self.every)
        positive("start", self.start, allow_zero=True)

    @property
    def active(self) -> bool:
        return self.weight > 0


@dataclass
class Step:
    """What a loss term may look at in one player's step: the real batch x (B, ...) and its labels, the
    generated samples (B, ...) with their latents, and D's outputs on both (``real_out`` is None in G's step)."""

    model: "GAN"
    batch: "Batch"
    labels: torch.Tensor | None
    lat: "Latents"
    fake: torch.Tensor
    fake_out: "CriticOutput"
    real_out: "CriticOutput | None" = None

    def critic(self, labels: torch.Tensor | None):
        """x -> D's logits (B,) for these labels (what gradient penalties differentiate)."""
        return lambda v: self.model.critic(v, labels).logits


class Part(nn.Module):
    """Base of every part: ``Settings`` (a frozen dataclass) and the model it belongs to (not a submodule).
    Parts are modules so that any state they keep (buffers) is checkpointed with the model."""

    Settings: ClassVar[type] = Weighted

    def __init__(self, settings: Any, model: "GAN"):
        super().__init__()
        self.settings = settings
        self.__dict__["model"] = model  # a back reference, not a child module

    def after_step(self, group: str) -> None:
        """Called after ``group``'s optimizer step (constraints such as weight clipping)."""


class Term(Part):
    """A weighted loss term added to the losses of ``players``; ``value`` is the unweighted term (a scalar)."""

    players: ClassVar[tuple[str, ...]] = ("discriminator",)

    def weight_at(self, step: int) -> float:
        """The term's weight at ``step``: 0 when it does not apply, else weight * every."""
        s = self.settings
        if step < s.start or step % s.every:
            return 0.0
        return s.weight * s.every

    def value(self, player: str, ctx: Step) -> torch.Tensor:
        raise NotImplementedError


class Trick(Part):
    """Changes to D's training: its real target, the noise on its inputs, layers on its features."""

    def real_target(self) -> float | None:
        """The target probability for real samples (one-sided label smoothing), or None: unchanged."""
        return None

    def perturb(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """D's input (real or generated) at ``step``."""
        return x

    def critic_layer(self, features: int, shape: tuple[int, ...]) -> tuple[nn.Module, int] | None:
        """A layer on D's flattened features (B, features) -> (B, features + extra) and ``extra``, or None;
        ``shape``: the features' shape before flattening ((C, H, W) of a conv trunk, else (features,))."""
        return None


penalties: Registry[type[Term]] = Registry("GAN penalty")
regularisers: Registry[type[Term]] = Registry("GAN regulariser")
tricks: Registry[type[Trick]] = Registry("GAN trick")
SECTIONS = {"penalties": penalties, "regularisers": regularisers, "tricks": tricks}


def normalise(section: str, values: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A config section's parts validated against their settings: {name: complete settings}, in a fixed order,
    without the parts that are off (null, or settings that switch them off)."""
    registry = SECTIONS[section]
    if not isinstance(values, dict):
        raise ConfigError(f"{section} should map part names to their settings, e.g. {{name: {{weight: 1}}}}; "
                          f"got {values!r}")
    out = {}
    for name in sorted(values, key=lambda n: (getattr(registry.get(n), "order", 0), n)):
        given = values[name]
        if given is None:
            continue
        if given is True:  # `minibatch_std: true`: on with its default settings
            given = {}
        if not isinstance(given, dict):
            raise ConfigError(f"{section}.{name} should be a mapping of its settings (or null to remove it), got "
                              f"{given!r}")
        settings = from_dict(registry.get(name).Settings, given, f"{section}.{name}")
        if getattr(settings, "active", True):
            out[name] = to_dict(settings)
    return out


def build(section: str, values: dict[str, dict[str, Any]], model: "GAN") -> nn.ModuleDict:
    """The parts of a (normalised) config section, built for ``model``."""
    registry = SECTIONS[section]
    return nn.ModuleDict({name: registry.get(name)(from_dict(registry.get(name).Settings, v), model)
                          for name, v in values.items()})


def part(section: str, name: str, key: str, off: Any = 0):
    """A flat config name that sets one part's setting: ``value -> {section: {name: {key: value}}}``, or removes
    the part when the value is ``off`` (0, False or None)."""

    def expand(value: Any) -> dict[str, Any]:
        if value is None or value is False or (value == off and not isinstance(value, bool)):
            return {section: {name: None}}
        return {section: {name: {} if key is None else {key: value}}}

    return expand


def secondary(section: str, names: tuple[str, ...], key: str):
    """A flat name that sets a setting of parts that another flat name switches on (``r_every``): it only
    takes effect where that part is on."""
    return lambda value: {section: {n: {key: value} for n in names}}
