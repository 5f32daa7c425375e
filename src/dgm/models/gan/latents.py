"""What a generator consumes: noise z (optionally truncated), class labels, and InfoGAN's latent codes."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import ConfigError


def truncated_normal(shape: tuple[int, ...], threshold: float, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """N(0, 1) restricted to (-threshold, threshold), float32 (the truncation trick, Brock et al. 2019).

    Sampled exactly by the inverse CDF (the same distribution as resampling every value with |z| >= threshold
    until none is left, in one pass); values are clamped strictly inside the interval against rounding."""
    if not threshold > 0:
        raise ConfigError(f"truncation threshold must be > 0, got {threshold}")
    lo = 0.5 * math.erfc(threshold / math.sqrt(2))  # Phi(-t)
    hi = 1.0 - lo  # Phi(t)
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    z = torch.special.ndtri(lo + (hi - lo) * u).float()
    edge = _below(threshold)
    return z.clamp(-edge, edge)


def _below(threshold: float) -> torch.Tensor:
    """The largest float32 strictly below ``threshold``."""
    return torch.nextafter(torch.tensor(threshold, dtype=torch.float32), torch.tensor(0.0))


@dataclass
class Latents:
    """z (B, latent_dim); labels (B,) or None; InfoGAN code (B,) in 0..K-1 and continuous codes (B, C) in
    [-1, 1], or None; psi: truncation in W for style-based generators (None: none)."""

    z: torch.Tensor
    labels: torch.Tensor | None = None
    code: torch.Tensor | None = None
    continuous: torch.Tensor | None = None
    psi: float | None = None

    def generator_input(self, categories: int) -> torch.Tensor:
        """The noise vector G reads: [z, one_hot(code), continuous] (B, latent_dim + K + C)."""
        parts = [self.z]
        if self.code is not None:
            parts.append(F.one_hot(self.code, categories).to(self.z.dtype))
        if self.continuous is not None:
            parts.append(self.continuous)
        return torch.cat(parts, dim=1) if len(parts) > 1 else self.z

    def to(self, device: torch.device | str) -> "Latents":
        """The same latents on ``device`` (drawn on the CPU from a seeded generator, used where the nets are)."""
        move = lambda t: t.to(device) if t is not None else None  # noqa: E731
        return Latents(move(self.z), move(self.labels), move(self.code), move(self.continuous), self.psi)


def draw_latents(n: int, latent_dim: int, *, num_classes: int = 0, categories: int = 0, continuous: int = 0,
                 labels: torch.Tensor | None = None, code: torch.Tensor | None = None,
                 continuous_codes: torch.Tensor | None = None, truncation: float | None = None,
                 temperature: float = 1.0, generator: torch.Generator | None = None) -> Latents:
    """Draw every latent input for n samples from ``generator`` (or torch's global RNG when None).

    Given ``labels``/``code``/``continuous_codes`` are used as they are (checked for shape and range);
    the rest are drawn: labels and codes uniformly, continuous codes from U(-1, 1), z from N(0, temperature^2)
    or, with ``truncation``, from that normal truncated to (-truncation, truncation)."""
    if truncation:  # N(0, T^2) truncated to (-t, t) is T times N(0, 1) truncated to (-t/T, t/T)
        z = truncated_normal((n, latent_dim), truncation / temperature, generator) * temperature
        z = z.clamp(-_below(truncation), _below(truncation))
    else:
        z = torch.randn(n, latent_dim, generator=generator) * temperature
    y = _index(labels, n, num_classes, "labels", generator) if num_classes else None
    c = _index(code, n, categories, "code", generator) if categories else None
    cont = None
    if continuous:
        if continuous_codes is not None:
            cont = torch.as_tensor(continuous_codes, dtype=torch.float32)
            if cont.shape != (n, continuous):
                raise ConfigError(f"continuous codes must have shape ({n}, {continuous}), got {tuple(cont.shape)}")
        else:
            cont = torch.rand(n, continuous, generator=generator) * 2 - 1
    return Latents(z, y, c, cont)


def _index(given: torch.Tensor | None, n: int, k: int, what: str, generator: torch.Generator | None) -> torch.Tensor:
    if given is None:
        return torch.randint(0, k, (n,), generator=generator)
    t = torch.as_tensor(given).long().reshape(-1)
    if t.numel() != n:
        raise ConfigError(f"{what}: {t.numel()} values for {n} samples")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= k):
        raise ConfigError(f"{what} must be in 0..{k - 1}")
    return t
