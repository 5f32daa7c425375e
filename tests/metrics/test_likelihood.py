"""Likelihood conventions and latent statistics against closed forms."""
import math

import pytest
import torch

from dgm.data.dataset import DatasetInfo, ImageDataset
from dgm.metrics import active_units, bits_per_dim, negative_log_likelihood
from dgm.models.base import GenerativeModel


class UniformBytes(GenerativeModel):
    """log p(x) = -D ln 256 for every 8-bit image: exactly 8 bits/dim."""

    input_transform = "unit"

    def log_prob(self, x):
        return torch.full((x.shape[0],), -x[0].numel() * math.log(256.0))


def test_uniform_model_has_eight_bits_per_dim():
    info = DatasetInfo("u", "test", (3, 4, 5))
    data = ImageDataset(torch.randint(0, 256, (37, 3, 4, 5), dtype=torch.uint8), None, info)
    r = negative_log_likelihood(UniformBytes(None, info), data, batch_size=10)
    assert r["bits_per_dim"] == pytest.approx(8.0) and r["estimator"] == "exact" and r["n"] == 37
    assert r["kind"] == "exact" and r["stderr_nats"] == pytest.approx(0.0, abs=1e-9)  # the same for every image
    assert r["nll_nats"] == pytest.approx(60 * math.log(256.0))


def test_standard_error_over_the_examples():
    """stderr_nats = sample std of the per-example log-likelihoods / sqrt(n)."""

    class PerExample(UniformBytes):
        def log_prob(self, x):
            return -x.double().flatten(1).sum(1)  # a different value per image

    info = DatasetInfo("u", "test", (1, 2, 2))
    data = ImageDataset(torch.randint(0, 256, (30, 1, 2, 2), dtype=torch.uint8), None, info)
    r = negative_log_likelihood(PerExample(None, info), data, batch_size=7)
    values = (data.data.double() / 255).flatten(1).sum(1)  # the "unit" transform's k / 255
    assert r["nll_nats"] == pytest.approx(float(values.mean()))
    assert r["stderr_nats"] == pytest.approx(float(values.std() / math.sqrt(30)))


def test_bits_per_dim_formula():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)


def test_active_units_counts_variance_above_threshold():
    g = torch.Generator().manual_seed(0)
    means = torch.cat([torch.randn(5000, 2, generator=g), 0.05 * torch.randn(5000, 3, generator=g)], 1)
    count, var = active_units(means)
    assert count == 2 and var.shape == (5,)
    assert var[:2].min() > 0.9 and var[2:].max() < 0.01
