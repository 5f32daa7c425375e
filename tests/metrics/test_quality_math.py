"""Sample-quality metrics against closed forms, brute force, SciPy and torchmetrics."""
import math

import numpy as np
import pytest
import torch

from dgm.metrics import class_histogram, fid, frechet_distance, inception_score, kid, precision_recall
from dgm.metrics.fid import feature_statistics
from dgm.metrics.kid import mmd2_unbiased, polynomial_kernel


def feats(n=600, d=12, seed=0, shift=0.0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g) / math.sqrt(d)
    return (torch.randn(n, d, generator=g) @ a) * scale + shift


def test_fid_matches_direct_scipy_computation():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    x, y = feats(seed=0).double().numpy(), feats(seed=1, shift=0.3, scale=1.4).double().numpy()
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy_linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert fid(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-3)


def test_fid_matches_torchmetrics_on_the_same_features():
    tm = pytest.importorskip("torchmetrics.image.fid")
    x, y = feats(seed=2), feats(seed=3, shift=-0.5)
    stats = [*feature_statistics(x), *feature_statistics(y)]
    assert fid(x, y) == pytest.approx(float(tm._compute_fid(*stats)), rel=1e-3)


def test_fid_identity_symmetry_and_diagonal_closed_form():
    x, y = feats(seed=4), feats(seed=5, shift=1.0)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6)
    assert fid(x, y) == pytest.approx(fid(y, x), rel=1e-6)
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    closed = float((mu1 - mu2).pow(2).sum() + (v1.sqrt() - v2.sqrt()).pow(2).sum())
    assert frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2)) == pytest.approx(closed, rel=1e-9)


def test_fid_with_fewer_samples_than_dimensions_is_finite():
    assert math.isfinite(fid(torch.randn(10, 64), torch.randn(12, 64)))


def test_kid_unbiased_estimator_by_hand():
    x = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    k = lambda a, b: (float(a @ b) / 2 + 1) ** 3  # noqa: E731
    kxx = sum(k(x[i], x[j]) for i in range(3) for j in range(3) if i != j) / 6
    kyy = sum(k(y[i], y[j]) for i in range(2) for j in range(2) if i != j) / 2
    kxy = sum(k(x[i], y[j]) for i in range(3) for j in range(2)) / 6
    assert mmd2_unbiased(x, y) == pytest.approx(kxx + kyy - 2 * kxy)
    assert polynomial_kernel(x, y).shape == (3, 2)


def test_kid_handles_fewer_samples_than_subset_size_and_is_near_zero_for_same_distribution():
    both = feats(n=500, seed=6)  # one distribution, two disjoint sample sets
    r = kid(both[:300], both[300:], subsets=20, subset_size=1000)
    assert r["subset_size"] == 200 and abs(r["kid_mean"]) < 0.02
    far = kid(both[:300], both[300:] + 2.0, subsets=20)
    assert far["kid_mean"] > 10 * abs(r["kid_mean"])


def test_kid_matches_torchmetrics_estimator():
    tm = pytest.importorskip("torchmetrics.image.kid")
    x, y = feats(n=100, seed=8).double(), feats(n=100, seed=9, shift=0.4).double()
    expected = float(tm.poly_mmd(x, y, degree=3, gamma=None, coef=1.0))
    assert mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-6)


def test_inception_score_bounds():
    k = 7
    one_hot = torch.eye(k).repeat(30, 1)  # confident and uniform over classes
    assert inception_score(one_hot, splits=10)["is_mean"] == pytest.approx(k, rel=1e-6)
    constant = torch.full((210, k), 1.0 / k)
    assert inception_score(constant)["is_mean"] == pytest.approx(1.0)
    same_class = torch.eye(k)[torch.zeros(210, dtype=torch.long)]
    assert inception_score(same_class)["is_mean"] == pytest.approx(1.0)


def test_class_histogram():
    probs = torch.eye(4)[torch.tensor([0, 0, 1, 3])]
    h = class_histogram(probs)
    assert h["class_share"] == [0.5, 0.25, 0.0, 0.25] and h["modes_covered"] == 3


def test_precision_recall_identical_and_disjoint():
    x = feats(n=300, seed=10)
    same = precision_recall(x, x.clone())
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    far = precision_recall(x, x + 100.0)
    assert far["precision"] == 0.0 and far["recall"] == 0.0 and far["density"] == 0.0 and far["coverage"] == 0.0


def test_precision_recall_on_a_collapsed_generator():
    real = feats(n=400, seed=11)
    collapsed = real[:20].repeat(20, 1) + 1e-3 * torch.randn(400, real.shape[1])
    r = precision_recall(real, collapsed)
    assert r["precision"] > 0.9 and r["recall"] < 0.3  # good samples, poor coverage of the data


def test_feature_statistics_need_two_vectors_and_no_more():
    mu, cov = feature_statistics(torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))  # N = 2 < D = 3 is fine
    torch.testing.assert_close(mu, torch.tensor([2.0, 2.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(cov, torch.tensor([[2.0, 0, -2], [0, 0, 0], [-2, 0, 2]], dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 2 feature vectors for a covariance, got 1"):
        feature_statistics(torch.ones(1, 5))


def test_kid_sizes_defaults_and_seed():
    import inspect

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(120, 4, generator=g), torch.randn(110, 4, generator=g) + 0.5
    mmd2_unbiased(a[:2], b[:2])  # two samples per set are enough; fewer on either side are refused
    for x, y in ((a[:1], b[:2]), (a[:2], b[:1])):
        with pytest.raises(ValueError, match="at least 2 samples in each set"):
            mmd2_unbiased(x, y)
    defaults = {k: v.default for k, v in inspect.signature(kid).parameters.items() if k != "features_a"}
    assert defaults == {"features_b": inspect.Parameter.empty, "subsets": 100, "subset_size": 1000, "seed": 0}
    r = kid(a, b, subsets=5, subset_size=50)  # Binkowski et al.'s protocol is 100 subsets of 1000
    assert r == kid(a, b, subsets=5, subset_size=50, seed=0) != kid(a, b, subsets=5, subset_size=50, seed=1)
    assert kid(a, b, subsets=1, subset_size=50)["kid_std"] == 0.0  # no spread from one subset (not NaN)
    assert kid(a, b, subsets=2, subset_size=50)["kid_std"] > 0
