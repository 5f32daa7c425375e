"""Pictures of models: sample grids, scatter plots, interpolations, traversals, latent manifolds."""
from .grids import grid, save_grid, save_samples, save_scatter, to_uint8

__all__ = ["grid", "save_grid", "save_samples", "save_scatter", "to_uint8"]
