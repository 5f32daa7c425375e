"""Metrics as pure functions over tensors, plus thin wrappers taking a model and a dataset."""
from .latent import active_units, latent_means
from .likelihood import bits_per_dim, negative_log_likelihood

__all__ = ["active_units", "latent_means", "bits_per_dim", "negative_log_likelihood"]
