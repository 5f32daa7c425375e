"""Sampling an energy model by running its Gibbs chain: one trajectory / sample for every model built from RBM
layers (RBM, GRBM, DBN, DBM), each supplying only where its chains start, how they sweep and what a state looks
like as an image."""
from __future__ import annotations

import torch

from ...errors import ConfigError


def frame_marks(gibbs_steps: int, frames: int) -> list[int]:
    """The sweep counts of a trajectory's ``frames`` snapshots, spread evenly over ``gibbs_steps`` (>= 1)."""
    if gibbs_steps < 1:
        raise ConfigError(f"gibbs_steps must be >= 1, got {gibbs_steps}")
    return sorted({round(gibbs_steps * (i + 1) / frames) for i in range(frames)} - {0})


class GibbsSampled:
    """``trajectory``, ``sample`` and ``sample_semantics`` from three hooks: ``chain_start(n, generator)`` -> the
    chains' first states; ``chain_sweeps(state, sweeps, generator)`` -> (the states after that many sweeps, the
    visibles' mean given the last hiddens); ``chain_images(state, mean, use_mean, generator)`` -> images
    (n, C, H, W) in [0, 1]. Noise comes from ``generator`` (the global RNG when None)."""

    @torch.no_grad()
    def trajectory(self, n: int, frames: int = 8, *, labels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, gibbs_steps: int = 1000, mean: bool = True
                   ) -> tuple[torch.Tensor, list[int]]:
        """``frames`` snapshots (frames, n, C, H, W) of n chains at sweeps spread evenly over ``gibbs_steps`` (the
        last one the samples), and those sweep counts; ``mean``: the visibles' mean (as papers show them) rather
        than their draws; labels are ignored."""
        marks = frame_marks(gibbs_steps, frames)
        state = self.chain_start(n, generator)
        shots, done = [], 0
        for mark in marks:
            state, visible_mean = self.chain_sweeps(state, mark - done, generator)
            done = mark
            shots.append(self.chain_images(state, visible_mean, mean, generator))
        return torch.stack(shots), marks

    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               gibbs_steps: int = 1000, mean: bool = True) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1] after ``gibbs_steps`` sweeps: the last frame of ``trajectory``."""
        return self.trajectory(n, 1, generator=generator, gibbs_steps=gibbs_steps, mean=mean)[0][-1]

    def sample_semantics(self, options):
        return "visible probabilities" if options.get("mean", True) else "draws"
