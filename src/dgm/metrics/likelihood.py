"""Likelihoods in one convention: nats per example of the discrete data, and bits/dim = nats / (D ln 2)."""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from ..data.dataset import ImageDataset
from ..models.base import GenerativeModel, HasELBO, HasLogProb


def bits_per_dim(nats: float | torch.Tensor, dims: int) -> float | torch.Tensor:
    """Negative log-likelihood in nats per example -> bits per dimension."""
    return nats / (dims * math.log(2.0))


@torch.no_grad()
def negative_log_likelihood(model: GenerativeModel, data: ImageDataset, k: int = 1, batch_size: int = 100,
                            seed: int = 0, progress: bool = False) -> dict[str, float]:
    """Mean NLL of ``data`` in nats and bits/dim: exact if the model has ``log_prob``, else -ELBO (k=1) or
    -IWAE-k (an upper bound on the NLL). Stochastic preprocessing uses a generator seeded with ``seed``,
    so the binarisation or dequantisation of the test set is the same every time."""
    g = torch.Generator().manual_seed(seed)
    exact = isinstance(model, HasLogProb)
    if not exact and not isinstance(model, HasELBO):
        raise TypeError(f"{type(model).__name__} has neither log_prob nor elbo")
    total, n = 0.0, 0
    for i in tqdm(range(0, len(data), batch_size), desc=f"nll k={k}", disable=None if progress else True, leave=False):
        x = model.prepare(data.data[i : i + batch_size], g, train=False)
        ll = model.log_prob(x) if exact else model.elbo(x, k=k, generator=g)
        total += float(ll.double().sum())
        n += len(x)
    nll = -total / n
    dims = math.prod(data.info.shape)
    record = {"nll_nats": nll, "bits_per_dim": float(bits_per_dim(nll, dims)), "k": k, "n": n,
              "estimator": "exact" if exact else ("elbo" if k == 1 else f"iwae-{k}"), "seed": seed,
              "input_transform": model.input_transform}
    if getattr(model, "likelihood_note", None):  # e.g. a flow's dequantisation convention
        record["likelihood_note"] = model.likelihood_note
    return record
