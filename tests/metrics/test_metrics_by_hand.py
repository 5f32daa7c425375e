"""Sample-quality metrics on small, non-degenerate inputs whose answers are worked out by hand, and the
evaluation record end to end (which side is "real" matters: precision and recall swap when it is wrong)."""
import math

import pytest
import torch

import dgm.data
from dgm.metrics.inception_score import inception_score
from dgm.metrics.precision_recall import knn_radii, precision_recall


def test_inception_score_of_a_small_table():
    """Two splits of two rows each; IS_s = exp(mean_i KL(p_i || mean_s p)), then the mean over splits.
    Split 1: rows (0.9, 0.1), (0.1, 0.9): marginal (0.5, 0.5), each KL = 0.9 ln 1.8 + 0.1 ln 0.2.
    Split 2: rows (1, 0), (0.5, 0.5): marginal (0.75, 0.25); KLs ln(4/3) and 0.5 ln(2/3) + 0.5 ln 2."""
    probs = torch.tensor([[0.9, 0.1], [0.1, 0.9], [1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    kl1 = 0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    s1 = math.exp(kl1)
    s2 = math.exp(0.5 * (math.log(4 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)))
    out = inception_score(probs, splits=2)
    assert out["is_mean"] == pytest.approx((s1 + s2) / 2, rel=1e-9)
    assert out["is_std"] == pytest.approx(abs(s1 - s2) / math.sqrt(2), rel=1e-9)  # sample std of two values
    assert out["splits"] == 2


def grid(*values):
    return torch.tensor(values, dtype=torch.float64)[:, None]


def test_knn_radii_on_a_line():
    assert knn_radii(grid(0, 1, 3, 7), k=1).tolist() == [1, 1, 2, 4]
    assert knn_radii(grid(0, 1, 3, 7), k=2).tolist() == [3, 2, 3, 6]


def test_precision_recall_density_coverage_on_a_line():
    """Reals 0..9 (k=1: every real ball has radius 1); fakes 0.1, 0.3, 0.5 (fake balls of radius 0.2).
    Every fake lies in the balls of reals 0 and 1: precision 1, density 2 / k = 2. Only real 0 lies in a
    fake ball (|0 - 0.1| < 0.2): recall 0.1. Reals 0 and 1 have a fake in their ball: coverage 0.2."""
    real, fake = grid(*range(10)), grid(0.1, 0.3, 0.5)
    out = precision_recall(real, fake, k=1)
    assert out == pytest.approx({"precision": 1.0, "recall": 0.1, "density": 2.0, "coverage": 0.2, "k": 1})
    swapped = precision_recall(fake, real, k=1)
    assert swapped["precision"] == pytest.approx(0.1) and swapped["recall"] == pytest.approx(1.0)


def whole_matrix(real, fake, k):
    """The definitions on the full distance matrices, by sorting."""
    radius = lambda a: torch.cdist(a, a).sort(1).values[:, k]  # noqa: E731 (column 0 is the point itself)
    r_real, r_fake, d = radius(real), radius(fake), torch.cdist(fake, real)  # d: (F, R)
    inside = d <= r_real[None, :]
    return {"precision": inside.any(1).double().mean().item(),
            "recall": (d <= r_fake[:, None]).any(0).double().mean().item(),
            "density": inside.sum(1).double().mean().item() / k,
            "coverage": (d.min(0).values <= r_real).double().mean().item(), "k": k}


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_precision_recall_in_chunks_equals_the_whole_matrix(chunk):
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 5, generator=g).double(), torch.randn(23, 5, generator=g).double() + 0.3
    expected = whole_matrix(real, fake, 3)
    assert 0 < expected["precision"] < 1 and 0 < expected["recall"] < 1
    assert precision_recall(real, fake, k=3, chunk=chunk) == pytest.approx(expected)


def test_quality_record_of_a_subset_of_the_reference():
    """Samples drawn from the reference itself all lie in the reference's manifold (precision ~ 1) but cover
    only part of it (recall < 1): the record keeps precision and recall the right way round."""
    from dgm.errors import DgmError
    from dgm.metrics.evaluate import quality_record
    from dgm.metrics.features import load_feature_net

    try:
        net = load_feature_net("mnist-cnn")
    except DgmError as e:
        pytest.skip(f"bundled classifier unavailable: {e}")
    reference = dgm.data.load("mnist-10k", split="test").subset(slice(0, 600))
    digits = reference.labels < 3  # samples from three classes only: a part of the reference
    pr = quality_record(reference.data[digits][:150], reference, net, ["pr"], use_cache=False)["pr"]
    assert pr["precision"] > 0.95 and pr["recall"] < 0.6, pr
