"""Metrics as pure functions over tensors or features, plus thin wrappers taking a model and a dataset."""
from .fid import fid, frechet_distance
from .inception_score import class_histogram, inception_score
from .kid import kid
from .latent import active_units, latent_means
from .likelihood import bits_per_dim, negative_log_likelihood
from .precision_recall import precision_recall

__all__ = ["active_units", "latent_means", "bits_per_dim", "negative_log_likelihood", "fid", "frechet_distance",
           "kid", "inception_score", "class_histogram", "precision_recall"]
