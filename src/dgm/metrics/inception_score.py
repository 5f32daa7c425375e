"""Inception Score (Salimans et al. 2016) from any classifier's predicted class probabilities."""
from __future__ import annotations

import torch


def inception_score(probs: torch.Tensor, splits: int = 10) -> dict[str, float]:
    """probs: (N, K) rows of p(y|x) -> exp(E_x KL(p(y|x) || p(y))) per split: mean and std over splits."""
    p = probs.double().clamp_min(1e-12)
    p = p / p.sum(1, keepdim=True)
    scores = []
    for part in p.chunk(splits):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.log() - marginal.log())).sum(1).mean()
        scores.append(kl.exp())
    s = torch.stack(scores)
    return {"is_mean": float(s.mean()), "is_std": float(s.std()) if len(s) > 1 else 0.0, "splits": len(s)}


def class_histogram(probs: torch.Tensor) -> dict[str, object]:
    """Share of samples per predicted class (argmax) and how many classes receive at least one sample."""
    k = probs.shape[1]
    counts = torch.bincount(probs.argmax(1), minlength=k)
    share = counts.double() / counts.sum()
    return {"class_share": [round(float(s), 4) for s in share], "modes_covered": int((counts > 0).sum()),
            "classes": k, "min_share": float(share.min()), "max_share": float(share.max())}
