"""Sample-quality metrics on small, non-degenerate inputs whose answers are worked out by hand, and the
evaluation record end to end (which side is "real" matters: precision and recall swap when it is wrong)."""
import math

import pytest
import torch

import dgm.data
from dgm.metrics.inception_score import class_histogram, inception_score
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


def test_inception_score_defaults_and_edges():
    probs = torch.softmax(torch.randn(40, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64), 1)
    out = inception_score(probs)
    assert out["splits"] == 10  # the convention of Salimans et al.'s code: 10 splits
    # rows are renormalised: unnormalised class scores give the score of their distribution
    assert inception_score(3 * probs)["is_mean"] == pytest.approx(out["is_mean"], rel=1e-12)
    one = inception_score(probs, splits=1)
    assert one["splits"] == 1 and one["is_std"] == 0.0  # no spread from a single split (not NaN)


def test_class_histogram_by_hand():
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.3, 0.7, 0.0]])
    out = class_histogram(probs)
    assert out == {"class_share": [0.3333, 0.6667, 0.0], "modes_covered": 2, "classes": 3,
                   "min_share": 0.0, "max_share": pytest.approx(2 / 3)}


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


def test_a_point_on_a_ball_boundary_is_inside():
    """The papers' balls are closed (distance <= the k-NN radius). Reals 0, 1, 2, 3 and fakes 4, 5, k=1: every
    radius is 1. Fake 4 is at distance exactly 1 from real 3: precision 1/2 (fake 5 is outside), density
    1/2; real 3 is in fake 4's ball (recall 1/4) and has fake 4 in its own ball (coverage 1/4)."""
    out = precision_recall(grid(0, 1, 2, 3), grid(4, 5), k=1)
    assert out == {"precision": 0.5, "recall": 0.25, "density": 0.5, "coverage": 0.25, "k": 1}


def test_k_defaults_to_3():  # Kynkaanniemi et al. and Naeem et al. use k = 3
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(30, 4, generator=g), torch.randn(20, 4, generator=g)
    assert torch.equal(knn_radii(real), knn_radii(real, k=3))
    assert precision_recall(real, fake) == precision_recall(real, fake, k=3) and precision_recall(real, fake)["k"] == 3


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


def test_label_agreement_is_the_share_classified_as_asked():
    class Net:  # "classifies" an image as its first pixel's value
        def __call__(self, x):
            probs = torch.nn.functional.one_hot(x.flatten(1)[:, 0].long(), 3).float()
            return probs, probs

    from dgm.metrics.quality import sample_quality

    samples = torch.tensor([0, 1, 2, 2]).reshape(4, 1, 1, 1).expand(4, 1, 2, 2).to(torch.uint8)
    out = sample_quality(samples, (torch.zeros(4, 3), None), Net(), ("classes",), labels=torch.tensor([0, 1, 1, 2]))
    assert out["label_agreement"] == 0.75
    assert "label_agreement" not in sample_quality(samples, (torch.zeros(4, 3), None), Net(), ("classes",))
