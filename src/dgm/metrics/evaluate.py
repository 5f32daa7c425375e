"""One entry point per kind of evaluation, each returning a JSON-able record with its protocol."""
from __future__ import annotations

import time

import torch

from ..data.dataset import ImageDataset
from ..errors import ConfigError
from ..models.base import (Classifies, GenerativeModel, HasELBO, HasKL, HasLogProb, LatentGenerator, LatentModel,
                           Reconstructs)
from .classification import classification_accuracy
from .features import FeatureNet
from .latent import active_units, latent_means, mean_kl
from .likelihood import negative_log_likelihood
from .quality import QUALITY_METRICS, reference_features, sample_quality
from .reconstruction import reconstruction_error

DATA_METRICS = ("nll", "elbo", "iwae", "au", "kl", "recon", "accuracy")  # the model on test examples (quality: on its samples)
FACTOR_METRICS = ("disentanglement",)  # the model's codes against a dataset's ground-truth factors (dSprites)
GENERATOR_METRICS = ("ppl",)  # the generator's latent space, through the feature network (perceptual path length)
ALL_METRICS = DATA_METRICS + FACTOR_METRICS + QUALITY_METRICS + GENERATOR_METRICS
NEEDS = {"nll": HasLogProb, "elbo": HasELBO, "iwae": HasELBO, "au": LatentModel, "kl": HasKL,
         "recon": Reconstructs, "disentanglement": LatentModel, "accuracy": Classifies, "ppl": LatentGenerator}


def parse_metrics(text: str, model: GenerativeModel | None, quality_available: bool, has_factors: bool = False
                  ) -> list[str]:
    """'auto' or a comma list -> the metrics to compute, checked against the model's capabilities
    (``has_factors``: the data has ground-truth factors, so auto adds disentanglement for latent models)."""
    if text == "auto":
        chosen = []
        if model is not None:
            chosen += ["nll"] if isinstance(model, HasLogProb) else []
            # a bound that costs many network passes per example (a diffusion's T) only when asked for
            if isinstance(model, HasELBO) and not model.costly_bound:
                chosen += ["elbo", "iwae"] if model.importance_weighted else ["elbo"]
            chosen += ["au"] if isinstance(model, LatentModel) and isinstance(model, HasELBO) else []
            chosen += ["recon"] if isinstance(model, Reconstructs) else []
            chosen += ["accuracy"] if isinstance(model, Classifies) else []
            chosen += ["disentanglement"] if has_factors and isinstance(model, LatentModel) else []
        return chosen + (list(QUALITY_METRICS) if quality_available else [])
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    for m in chosen:
        if m not in ALL_METRICS:
            raise ConfigError(f"unknown metric {m!r}; choose from {', '.join(ALL_METRICS)}")
        if m == "nll" and single_bound(model):  # its NLL figure is its bound (a diffusion's VLB)
            continue
        if m in NEEDS and (model is None or not isinstance(model, NEEDS[m])):
            what = "a samples file" if model is None else type(model).__name__
            raise ConfigError(f"metric {m} needs a model with {NEEDS[m].__name__}; {what} has none")
        if m in GENERATOR_METRICS and not quality_available:
            raise ConfigError(f"metric {m} measures distances between features: it needs a feature network for "
                              "this data (--features)")
        if m in FACTOR_METRICS and not has_factors:
            raise ConfigError(f"metric {m} needs a dataset with ground-truth factors (dsprites, dsprites-gen)")
        if m == "iwae" and not model.importance_weighted:
            raise ConfigError(f"metric iwae: {type(model).__name__}'s bound has no importance-weighted form; use "
                              "elbo (or nll)")
    return chosen


def single_bound(model: GenerativeModel | None) -> bool:
    """True for a model whose only likelihood is one bound (``elbo`` without an importance-weighted form and no
    ``log_prob``): its ``nll`` is that bound, an upper bound on the NLL."""
    return model is not None and isinstance(model, HasELBO) and not isinstance(model, HasLogProb) \
        and not model.importance_weighted


def data_record(model: GenerativeModel, data: ImageDataset, metrics: list[str], k: int = 1000,
                batch_size: int = 100, seed: int = 0, progress: bool = False,
                bound_options: dict | None = None) -> dict[str, object]:
    """The DATA_METRICS on test examples ``data``: nll (exact, or a diffusion's bound), elbo, iwae-k (NLL bounds
    in nats and bits/dim), active units, the posterior's KL from the prior and reconstruction error; ``bound_options``: keyword options of the
    model's ``elbo`` (a diffusion's ``terms``)."""
    out: dict[str, object] = {}
    for m in metrics:
        if m in ("nll", "elbo"):
            out[m] = negative_log_likelihood(model, data, 1, batch_size, seed, progress=progress,
                                             bound_options=bound_options)
        elif m == "iwae":
            bs = max(1, min(batch_size, 10))  # k decoder rows per example: small batches stay in cache
            out[f"iwae_{k}"] = negative_log_likelihood(model, data, k, bs, seed, progress=progress)
        elif m == "au":
            count, var = active_units(latent_means(model, data, seed=seed))
            out["active_units"] = {"count": count, "of": int(var.numel()), "threshold": 0.01}
            layers = getattr(model, "latent_layers", None)  # stochastic layers side by side in the code
            if layers:
                parts = var.split(list(layers))
                out["active_units"]["per_layer"] = [int((p > 0.01).sum()) for p in parts]
                out["active_units"]["layer_sizes"] = list(layers)
        elif m == "kl":
            out["kl"] = mean_kl(model, data, seed=seed)
        elif m == "recon":
            out["reconstruction"] = reconstruction_error(model, data, batch_size, seed)
        elif m == "accuracy":
            out["classification"] = classification_accuracy(model, data, seed=seed)
    return out


def quality_record(samples: torch.Tensor, reference: ImageDataset, net: FeatureNet, metrics: list[str],
                   seed: int = 0, use_cache: bool = True, labels: torch.Tensor | None = None) -> dict[str, object]:
    """Sample-quality metrics of uint8 samples against ``reference``, with the protocol that produced them;
    ``labels`` (N,): the classes the samples were asked for (label agreement under "classes")."""
    t0 = time.perf_counter()
    ref = reference_features(net, reference, use_cache)
    values = sample_quality(samples, ref, net, tuple(m for m in metrics if m in QUALITY_METRICS), seed=seed,
                            labels=labels)
    return {**values, "protocol": {"feature_net": net.name, "n_samples": len(samples),
                                   "reference": f"{reference.info.name}/{reference.info.split}",
                                   "n_reference": len(reference), "seed": seed,
                                   "seconds": round(time.perf_counter() - t0, 2)}}
