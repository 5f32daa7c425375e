"""Disentanglement metrics over a dataset with ground-truth factors (dSprites): the beta-VAE metric (Higgins et
al. 2017), the FactorVAE metric (Kim and Mnih 2018), the Mutual Information Gap (Chen et al. 2018) and DCI
(Eastwood and Williams 2018). Protocols follow disentanglement_lib (Locatello et al. 2019): factors drawn from
the dataset, representations are the encoder's means, MIG on 20 equal-width bins per code.

Every metric sees the representation through ``codes_of(rows) -> (B, D)``: the codes of the dataset's samples
at ``rows``, so synthetic encoders of the factors (tests) and trained models (``model_codes``) are scored alike.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..data.dataset import ImageDataset
from ..data.factors import Factors
from ..errors import ConfigError, DataError
from .latent import latent_means

CodesOf = Callable[[torch.Tensor], torch.Tensor]  # (B,) dataset rows -> (B, D) codes


def model_codes(model, data: ImageDataset, batch_size: int = 256, seed: int = 0) -> CodesOf:
    """The codes of a model with ``encode`` (a VAE's posterior means) on ``data``'s samples at given rows."""
    return lambda rows: latent_means(model, data.subset(rows), batch_size, seed).double()


def factors_of(data: ImageDataset) -> Factors:
    """The dataset's factors, or a ConfigError naming the datasets that have them."""
    if getattr(data, "factors", None) is None:
        raise ConfigError(f"disentanglement metrics need a dataset with ground-truth factors (dsprites, "
                          f"dsprites-gen); {data.info.name} has none")
    return data.factors


# ---------------------------------------------------------------- classifiers the metrics train


def fit_softmax(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float = 1e-4, iters: int = 200):
    """Multinomial logistic regression on standardised features (L-BFGS, float64) -> (predict, |W| (D, classes))."""
    x = x.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-12)
    z = (x - mean) / std
    w = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w, b = w.detach(), b.detach()

    def predict(x_new: torch.Tensor) -> torch.Tensor:
        return ((x_new.double() - mean) / std @ w + b).argmax(1)

    return predict, w.abs()


def _accuracy(predict, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(x) == y).double().mean())


# ---------------------------------------------------------------- beta-VAE metric


def beta_vae_metric(codes_of: CodesOf, factors: Factors, n_train: int = 1000, n_eval: int = 500,
                    batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Accuracy of a linear classifier naming the factor held fixed from mean |z1 - z2| over ``batch_size`` pairs
    that share that factor (Higgins et al. 2017); chance is 1 / K."""
    g = torch.Generator().manual_seed(seed)

    def points(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        feats, labels = [], torch.randint(0, len(factors.names), (n,), generator=g)
        for k in labels.tolist():
            first = factors.random_rows(batch_size, g)
            second = factors.rows_with(k, factors.indices[first, k], g)
            z = codes_of(torch.cat([first, second]))
            feats.append((z[:batch_size] - z[batch_size:]).abs().mean(0))
        return torch.stack(feats), labels

    x_train, y_train = points(n_train)
    x_eval, y_eval = points(n_eval)
    predict, _ = fit_softmax(x_train, y_train, len(factors.names))
    return {"train_accuracy": _accuracy(predict, x_train, y_train), "eval_accuracy": _accuracy(predict, x_eval, y_eval)}


# ---------------------------------------------------------------- FactorVAE metric


def factor_vae_metric(codes_of: CodesOf, factors: Factors, n_train: int = 1000, n_eval: int = 500,
                      batch_size: int = 64, n_variance: int = 10000, seed: int = 0) -> dict[str, float]:
    """Accuracy of the majority-vote classifier from the code of least normalised variance to the factor held
    fixed (Kim and Mnih 2018); codes of zero variance over the data are left out (a constant encoder votes for no
    code, and its classifier names the commonest factor: chance)."""
    g = torch.Generator().manual_seed(seed)
    scale = codes_of(factors.random_rows(n_variance, g)).var(0).sqrt()
    active = scale > 1e-12 * max(1.0, float(scale.max()))
    dims = int(active.sum())

    def votes(n: int) -> torch.Tensor:
        out = torch.zeros(dims + 1, len(factors.names), dtype=torch.int64)  # row `dims`: no active code
        for _ in range(n):
            k = int(torch.randint(0, len(factors.names), (1,), generator=g))
            value = factors.indices[factors.random_rows(1, g), k].expand(batch_size)
            z = codes_of(factors.rows_with(k, value, g))[:, active] / scale[active]
            d = int(z.var(0).argmin()) if dims else dims
            out[d, k] += 1
        return out

    train, evaluation = votes(n_train), votes(n_eval)
    choice = train.argmax(1)  # each code -> the factor it was most often the quietest code for
    if dims:  # the no-code row never fills when some code is active; it then names the commonest factor
        choice[dims] = int(train.sum(0).argmax())
    else:
        choice[:] = int(train.sum(0).argmax())
    rows = torch.arange(dims + 1)
    return {"train_accuracy": float(train[rows, choice].sum()) / n_train,
            "eval_accuracy": float(evaluation[rows, choice].sum()) / n_eval, "active_codes": dims}


# ---------------------------------------------------------------- Mutual Information Gap


def discretize(codes: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """(N, D) codes -> (N, D) int64 bin indices, ``bins`` equal-width bins over each code's range."""
    lo, hi = codes.min(0).values, codes.max(0).values
    width = (hi - lo).clamp_min(1e-12) / bins
    return ((codes - lo) / width).floor().clamp(0, bins - 1).to(torch.int64)


def mutual_information(a: torch.Tensor, b: torch.Tensor) -> float:
    """I(a; b) in nats of two (N,) int64 label vectors, from their empirical joint distribution."""
    a = torch.unique(a, return_inverse=True)[1]
    b = torch.unique(b, return_inverse=True)[1]
    joint = torch.zeros(int(a.max()) + 1, int(b.max()) + 1, dtype=torch.float64)
    joint.index_put_((a, b), torch.ones(len(a), dtype=torch.float64), accumulate=True)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    nz = joint > 0
    return float((joint[nz] * (joint[nz] / (pa * pb).expand_as(joint)[nz]).log()).sum())


def entropy(a: torch.Tensor) -> float:
    """H(a) in nats of an (N,) int64 label vector."""
    p = torch.unique(a, return_counts=True)[1].double() / len(a)
    return float(-(p * p.log()).sum())


def mig_from_codes(codes: torch.Tensor, factor_indices: torch.Tensor, bins: int = 20) -> dict[str, object]:
    """MIG of (N, D) codes against (N, K) factor indices: per factor, the gap between the two codes sharing most
    information with it, over its entropy; the mean over factors (constant factors are left out)."""
    if codes.shape[1] < 2:
        raise DataError("MIG needs at least two codes")
    discrete = discretize(codes.double(), bins)
    gaps = []
    for k in range(factor_indices.shape[1]):
        h = entropy(factor_indices[:, k])
        if h <= 0:
            continue
        mi = sorted((mutual_information(discrete[:, d], factor_indices[:, k]) for d in range(codes.shape[1])),
                    reverse=True)
        gaps.append((mi[0] - mi[1]) / h)
    return {"mig": sum(gaps) / len(gaps) if gaps else 0.0, "per_factor": [round(x, 4) for x in gaps]}


def mig_metric(codes_of: CodesOf, factors: Factors, n: int = 10000, bins: int = 20, seed: int = 0
               ) -> dict[str, object]:
    """MIG (Chen et al. 2018) over ``n`` samples drawn from the dataset."""
    g = torch.Generator().manual_seed(seed)
    rows = factors.random_rows(n, g)
    return mig_from_codes(codes_of(rows), factors.indices[rows], bins)


# ---------------------------------------------------------------- DCI


def importance_matrix(codes_train: torch.Tensor, factors_train: torch.Tensor, codes_test: torch.Tensor,
                      factors_test: torch.Tensor, importance: str = "auto", seed: int = 0
                      ) -> tuple[torch.Tensor, list[float], str]:
    """(D, K) importance of each code for predicting each factor, the test accuracy per factor, and the method:
    gradient-boosted trees' feature importances (scikit-learn, as Eastwood and Williams and disentanglement_lib)
    or |weights| of a standardised multinomial logistic regression summed over classes."""
    if importance == "auto":
        try:
            import sklearn  # noqa: F401
            importance = "gbt"
        except ImportError:
            importance = "logistic"
    if importance not in ("gbt", "logistic"):
        raise ConfigError(f"DCI importance {importance!r}: choose gbt (scikit-learn) or logistic")
    d, k_count = codes_train.shape[1], factors_train.shape[1]
    matrix = torch.zeros(d, k_count, dtype=torch.float64)
    accuracy = []
    for k in range(k_count):
        y_train, y_test = factors_train[:, k], factors_test[:, k]
        if importance == "gbt":
            try:
                from sklearn.ensemble import GradientBoostingClassifier
            except ImportError:
                raise ConfigError("DCI with gradient-boosted trees needs scikit-learn (pip install scikit-learn); "
                                  "or use importance=logistic") from None
            clf = GradientBoostingClassifier(random_state=seed).fit(codes_train.numpy(), y_train.numpy())
            matrix[:, k] = torch.from_numpy(clf.feature_importances_).abs()
            accuracy.append(float((torch.from_numpy(clf.predict(codes_test.numpy())) == y_test).double().mean()))
        else:
            predict, w = fit_softmax(codes_train, y_train, int(max(y_train.max(), y_test.max())) + 1)
            matrix[:, k] = w.sum(1)
            accuracy.append(_accuracy(predict, codes_test, y_test))
    return matrix, accuracy, importance


def _one_minus_entropy(p: torch.Tensor, base: int) -> torch.Tensor:
    """1 - H(p) / log(base) along the last dimension (rows of probabilities)."""
    if base < 2:
        return torch.ones(p.shape[:-1], dtype=torch.float64)
    plogp = torch.where(p > 0, p * p.clamp_min(1e-300).log(), torch.zeros_like(p))
    return 1 + plogp.sum(-1) / math.log(base)


def dci_from_importance(matrix: torch.Tensor) -> dict[str, float]:
    """Disentanglement and completeness of a (D, K) importance matrix (Eastwood and Williams 2018), each a mean
    weighted by the codes' (the factors') share of the total importance."""
    total = matrix.sum()
    if total <= 0:
        return {"disentanglement": 0.0, "completeness": 0.0}
    code_share, factor_share = matrix.sum(1) / total, matrix.sum(0) / total
    per_code = _one_minus_entropy(matrix / matrix.sum(1, keepdim=True).clamp_min(1e-300), matrix.shape[1])
    per_factor = _one_minus_entropy((matrix / matrix.sum(0, keepdim=True).clamp_min(1e-300)).T, matrix.shape[0])
    return {"disentanglement": float((code_share * per_code).sum()),
            "completeness": float((factor_share * per_factor).sum())}


def dci_metric(codes_of: CodesOf, factors: Factors, n_train: int = 2000, n_test: int = 1000,
               importance: str = "auto", seed: int = 0) -> dict[str, object]:
    """DCI: disentanglement, completeness and informativeness (mean test accuracy of the per-factor classifiers)."""
    g = torch.Generator().manual_seed(seed)
    rows_train, rows_test = factors.random_rows(n_train, g), factors.random_rows(n_test, g)
    matrix, accuracy, method = importance_matrix(codes_of(rows_train), factors.indices[rows_train],
                                                 codes_of(rows_test), factors.indices[rows_test], importance, seed)
    return {**dci_from_importance(matrix), "informativeness": sum(accuracy) / len(accuracy),
            "informativeness_per_factor": [round(a, 4) for a in accuracy], "importance": method}


def disentanglement_record(codes_of: CodesOf, factors: Factors, seed: int = 0, scale: float = 1.0,
                           dci_importance: str = "auto") -> dict[str, object]:
    """All four metrics with their protocol; ``scale`` multiplies every sample count (1: the defaults above)."""
    n = lambda base: max(10, int(round(base * scale)))  # noqa: E731
    out = {
        "beta_vae": beta_vae_metric(codes_of, factors, n(1000), n(500), seed=seed),
        "factor_vae": factor_vae_metric(codes_of, factors, n(1000), n(500), n_variance=n(10000), seed=seed),
        "mig": mig_metric(codes_of, factors, n(10000), seed=seed),
        "dci": dci_metric(codes_of, factors, n(2000), n(1000), dci_importance, seed),
    }
    out["protocol"] = {"factors": list(factors.names), "sizes": list(factors.sizes), "seed": seed,
                       "pairs_per_point": 64, "votes": [n(1000), n(500)], "mig_samples": n(10000), "mig_bins": 20,
                       "dci_samples": [n(2000), n(1000)], "representation": "encoder means (model.encode)"}
    return out
