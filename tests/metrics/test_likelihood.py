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


class NoisyBound(GenerativeModel):
    """A stand-in bound: elbo = -sum(x) + one N(0, 1) draw per example from the evaluation's generator, on
    dynamically binarised pixels (which draw from it too), so the figure depends on the seed and the batching."""

    input_transform = "binary"
    likelihood_note = "a test note"

    def elbo(self, x, k=1, generator=None):
        return -x.flatten(1).sum(1) + torch.randn(x.shape[0], generator=generator, dtype=x.dtype) - math.log(k)


def test_bounds_their_defaults_and_their_seed():
    info = DatasetInfo("b", "test", (1, 3, 3))
    data = ImageDataset(torch.randint(0, 256, (250, 1, 3, 3), dtype=torch.uint8), None, info)
    model = NoisyBound(None, info)
    r = negative_log_likelihood(model, data)
    assert r["kind"] == "bound" and r["estimator"] == "elbo" and r["k"] == 1 and r["seed"] == 0 and r["n"] == 250
    assert r["likelihood_note"] == "a test note"
    # the defaults are k=1, batches of 100, seed 0 (the binarisation and the noise draw in that order)
    assert r == negative_log_likelihood(model, data, k=1, batch_size=100, seed=0)
    assert r != negative_log_likelihood(model, data, batch_size=101)
    assert r != negative_log_likelihood(model, data, seed=1)
    five = negative_log_likelihood(model, data, k=5)
    assert five["estimator"] == "iwae-5" and five["nll_nats"] == pytest.approx(r["nll_nats"] + math.log(5))


def test_a_model_without_a_likelihood_is_refused():
    info = DatasetInfo("b", "test", (1, 2, 2))
    data = ImageDataset(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), None, info)
    with pytest.raises(TypeError, match="neither log_prob nor elbo"):
        negative_log_likelihood(GenerativeModel(None, info), data)


def test_standard_error_of_two_examples():  # sample std |a - b| / sqrt(2), over sqrt(2): |a - b| / 2

    class Two(UniformBytes):
        def log_prob(self, x):
            return -x.double().flatten(1).sum(1)

    info = DatasetInfo("u", "test", (1, 1, 1))
    data = ImageDataset(torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1), None, info)
    assert negative_log_likelihood(Two(None, info), data)["stderr_nats"] == pytest.approx(0.5)


def test_bits_per_dim_formula():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)


def test_active_units_counts_variance_above_threshold():
    g = torch.Generator().manual_seed(0)
    means = torch.cat([torch.randn(5000, 2, generator=g), 0.05 * torch.randn(5000, 3, generator=g)], 1)
    count, var = active_units(means)
    assert count == 2 and var.shape == (5,)
    assert var[:2].min() > 0.9 and var[2:].max() < 0.01


def test_mean_kl_is_the_closed_form_kl_averaged_and_the_cli_reports_it(tmp_path, capsys):
    from torch.distributions import Normal, kl_divergence

    from dgm.cli.main import main
    from dgm.data import load
    from dgm.metrics.latent import mean_kl
    from dgm.models import create

    data = load("mnist-10k", split="test").subset(slice(0, 120))
    torch.manual_seed(0)
    model = create("vae", data.info, hidden=(16,), latent_dim=3).eval()
    with torch.no_grad():  # bigger posterior means: a KL well above 0
        model.net.encoder[1][-1].bias[:3] += 1.5
        x = model.prepare(data.data, torch.Generator().manual_seed(0), train=False)
        mu, logvar = model.posterior(x)
        by_hand = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).double()
    r = mean_kl(model, data, batch_size=50)  # batches that do not divide 120
    assert r["n"] == 120 and r["kl_nats"] > 1
    assert r["kl_nats"] == pytest.approx(float(by_hand.mean()), rel=1e-5)
    assert r["stderr"] == pytest.approx(float(by_hand.std() / math.sqrt(120)), rel=1e-4)
    run = tmp_path / "run"
    assert main(["train", "vae", "--steps", "2", "--set", "model.hidden=[16]", "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "kl", "-n", "50", "--json"]) == 0
    import json
    kl = json.loads(capsys.readouterr().out)["metrics"]["kl"]
    assert kl["n"] == 50 and kl["kl_nats"] >= 0
    gan = tmp_path / "gan"
    assert main(["train", "dcgan", "--out", str(gan), "--set", "model.channels=8", "--set", "model.latent_dim=8",
                 "--no-progress", "--steps", "1", "--batch-size", "16"]) == 0
    capsys.readouterr()
    assert main(["eval", str(gan), "--metrics", "kl"]) == 2
    assert "metric kl needs a model with HasKL" in capsys.readouterr().err
