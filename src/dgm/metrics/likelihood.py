"""Likelihoods in one convention: nats per example of the discrete data, and bits/dim = nats / (D ln 2)."""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from ..data.dataset import ImageDataset
from ..models.base import LIKELIHOOD_KINDS, GenerativeModel, HasELBO, HasLogProb


def bits_per_dim(nats: float | torch.Tensor, dims: int) -> float | torch.Tensor:
    """Negative log-likelihood in nats per example -> bits per dimension."""
    return nats / (dims * math.log(2.0))


@torch.no_grad()
def negative_log_likelihood(model: GenerativeModel, data: ImageDataset, k: int = 1, batch_size: int = 100,
                            seed: int = 0, progress: bool = False, bound_options: dict | None = None
                            ) -> dict[str, float]:
    """Mean NLL of ``data`` in nats and bits/dim from ``log_prob`` when the model has one (its
    ``log_prob_kind``: exact, or a flow's dequantisation bound), else -ELBO (k=1) or -IWAE-k (upper bounds on
    the NLL). The record names the ``kind`` (``LIKELIHOOD_KINDS``) and the standard error over the examples.
    Stochastic preprocessing uses a generator seeded with ``seed``, so the binarisation or dequantisation of
    the test set is the same every time. ``bound_options``: keyword options of the model's ``elbo`` (a
    diffusion's ``terms``), named in the record by its ``bound_semantics``."""
    g = torch.Generator().manual_seed(seed)
    has_log_prob = isinstance(model, HasLogProb)
    if not has_log_prob and not isinstance(model, HasELBO):
        raise TypeError(f"{type(model).__name__} has neither log_prob nor elbo")
    kind = model.log_prob_kind if has_log_prob else "bound"
    if kind not in LIKELIHOOD_KINDS:
        raise TypeError(f"{type(model).__name__}.log_prob_kind {kind!r} is not one of {', '.join(LIKELIHOOD_KINDS)}")
    total, total_sq, n = 0.0, 0.0, 0
    for i in tqdm(range(0, len(data), batch_size), desc=f"nll k={k}", disable=None if progress else True, leave=False):
        x = model.prepare(data.data[i : i + batch_size], g, train=False).to(model.device)
        ll = (model.log_prob(x) if has_log_prob else model.elbo(x, k=k, generator=g, **(bound_options or {})))
        ll = ll.double()
        total += float(ll.sum())
        total_sq += float(ll.pow(2).sum())
        n += len(x)
    nll = -total / n
    dims = math.prod(data.info.shape)
    # standard error of the mean over the examples (the spread of the data and, for bounds and estimates,
    # of their noise): what a second seed or a second test sample would move the figure by, roughly
    stderr = math.sqrt(max(total_sq / n - (total / n) ** 2, 0.0) / max(n - 1, 1))
    if has_log_prob:  # a model may name its estimator (an RBM's "ais"); else by the kind
        estimator = getattr(model, "likelihood_estimator", None) or \
            {"exact": "exact", "bound": "dequantised bound"}.get(kind, "estimate")
    else:
        estimator = "elbo" if k == 1 else f"iwae-{k}"
    record = {"nll_nats": nll, "bits_per_dim": float(bits_per_dim(nll, dims)), "kind": kind,
              "stderr_nats": stderr, "k": k, "n": n, "estimator": estimator, "seed": seed,
              "input_transform": model.input_transform}
    if not has_log_prob and hasattr(model, "bound_semantics"):  # e.g. a diffusion's bound: all T terms or fewer
        record["bound"] = model.bound_semantics(bound_options or {})
    if getattr(model, "likelihood_note", None):  # e.g. a flow's dequantisation convention
        record["likelihood_note"] = model.likelihood_note
    if hasattr(model, "likelihood_fields"):  # e.g. an AIS estimate's log Z, its error and the interval it gives
        record.update(model.likelihood_fields(nll))
    return record
