"""Mixtures by EM: component densities against torch.distributions,
brute-force normalisation, the M-step by hand, EM's monotone log-likelihood, recovery of known parameters,
agreement with scikit-learn's GaussianMixture from the same start, and the CLI path (train, eval, sample)."""
from __future__ import annotations

import itertools
import json
import warnings

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal

import dgm.data
from dgm.cli.main import main
from dgm.data.dataset import DatasetInfo
from dgm.errors import ConfigError
from dgm.models import create

POINTS = DatasetInfo("toy", "train", (2,), kind="points")
COVARIANCES = ["full", "diag", "spherical"]


def gmm(covariance="full", k=3, info=POINTS, **kw):
    return create("gmm", info, components=k, covariance=covariance, **kw)


def random_parameters(model, seed=0):
    """Weights, means and covariances (SPD) drawn at random into ``model``."""
    g = torch.Generator().manual_seed(seed)
    k, d = model.means.shape
    model.log_weights.copy_(torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), 0).log())
    model.means.copy_(torch.randn(k, d, generator=g, dtype=torch.float64) * 2)
    a = torch.randn(k, d, d, generator=g, dtype=torch.float64)
    full = a @ a.transpose(1, 2) + 0.5 * torch.eye(d, dtype=torch.float64)
    cov = {"full": full, "diag": full.diagonal(dim1=1, dim2=2).clone(),
           "spherical": full.diagonal(dim1=1, dim2=2).mean(1)}[model.config.covariance]
    model.covariances.copy_(cov)
    return full if model.config.covariance == "full" else torch.diag_embed(model.variances())


def blobs(n=6000, seed=0):
    """Three 2-D Gaussians with known weights, means and covariances: (x (n, 2), (weights, means, covs))."""
    g = torch.Generator().manual_seed(seed)
    w = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    mu = torch.tensor([[-4.0, 0.0], [0.0, 3.0], [4.0, -1.0]], dtype=torch.float64)
    cov = torch.tensor([[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.2], [-0.2, 0.4]], [[0.3, 0.0], [0.0, 1.2]]],
                       dtype=torch.float64)
    k = torch.multinomial(w, n, replacement=True, generator=g)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x = mu[k] + (torch.linalg.cholesky(cov)[k] @ z[:, :, None])[:, :, 0]
    return x.float(), (w, mu, cov)


# --- Gaussian mixture ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance", COVARIANCES)
def test_gaussian_components_match_torch_distributions(covariance):
    model = gmm(covariance, k=4, info=DatasetInfo("toy5", "train", (5,), kind="points"))
    full = random_parameters(model)
    x = torch.randn(50, 5, dtype=torch.float64) * 3
    want = torch.stack([MultivariateNormal(model.means[k], full[k]).log_prob(x) for k in range(4)], 1)
    torch.testing.assert_close(model.component_log_prob(x), want, rtol=1e-10, atol=1e-9)
    mix = torch.logsumexp(want + model.log_weights, 1)
    torch.testing.assert_close(model.log_prob(x.float()), mix.float(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_gaussian_m_step_by_hand(covariance):
    """Weighted means and (co)variances of four points under given responsibilities, plus reg_covar."""
    model = gmm(covariance, k=2, reg_covar=0.01)
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]], dtype=torch.float64)
    resp = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], dtype=torch.float64)
    model.m_step(x, resp)
    torch.testing.assert_close(model.log_weights.exp(), torch.tensor([2.5, 1.5], dtype=torch.float64) / 4)
    m0 = torch.tensor([2.0, 2.0], dtype=torch.float64) / 2.5  # (0,0) + (2,0) + 0.5 (0,4)
    m1 = torch.tensor([2.0, 6.0], dtype=torch.float64) / 1.5  # 0.5 (0,4) + (2,4)
    torch.testing.assert_close(model.means, torch.stack([m0, m1]))
    full = []
    for m, w in ((m0, resp[:, 0]), (m1, resp[:, 1])):
        d = x - m
        full.append((w[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0) / w.sum())
    full = torch.stack(full)
    want = {"full": full + 0.01 * torch.eye(2, dtype=torch.float64),
            "diag": full.diagonal(dim1=1, dim2=2) + 0.01,
            "spherical": full.diagonal(dim1=1, dim2=2).mean(1) + 0.01}[covariance]
    torch.testing.assert_close(model.covariances, want)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_em_log_likelihood_never_decreases(covariance):
    x = dgm.data.load("ring8").data[:2000]
    torch.manual_seed(0)
    model = gmm(covariance, k=5)  # fewer components than modes: EM has to move them (8 would start converged)
    model.initialize(x)
    lls = [float(model.em_step(x)) for _ in range(25)]
    assert all(b >= a - 1e-9 for a, b in zip(lls, lls[1:])), lls
    assert lls[-1] > lls[0] + 1e-3  # it moved


def test_em_recovers_known_parameters():
    x, (w, mu, cov) = blobs()
    torch.manual_seed(0)
    model = gmm("full", k=3)
    model.initialize(x)
    for _ in range(60):
        model.em_step(x)
    order = model.means[:, 0].argsort()  # the true means are sorted by their first coordinate
    torch.testing.assert_close(model.means[order], mu, atol=0.1, rtol=0)
    torch.testing.assert_close(model.covariances[order], cov, atol=0.1, rtol=0)
    torch.testing.assert_close(model.log_weights.exp()[order], w, atol=0.03, rtol=0)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_agrees_with_scikit_learn_from_the_same_start(covariance):
    sk = pytest.importorskip("sklearn.mixture")
    x, _ = blobs(1500, seed=1)
    torch.manual_seed(2)
    model = gmm(covariance, k=4)
    model.initialize(x)
    precisions = model.covariances.inverse() if covariance == "full" else 1 / model.covariances
    ref = sk.GaussianMixture(4, covariance_type=covariance, max_iter=10, tol=0, reg_covar=1e-6,
                             init_params="random_from_data", weights_init=model.log_weights.exp().numpy(),
                             means_init=model.means.numpy(), precisions_init=precisions.numpy(), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 never "converges"
        ref.fit(x.double().numpy())
    for _ in range(10):
        model.em_step(x)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(model.log_weights.exp(), as_t(ref.weights_), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(model.means, as_t(ref.means_), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(model.covariances, as_t(ref.covariances_), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(torch.logsumexp(model.log_joint(x), 1), as_t(ref.score_samples(x.double().numpy())),
                               rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("covariance", COVARIANCES)
def test_gaussian_samples_follow_the_mixture(covariance):
    model = gmm(covariance, k=3)
    full = random_parameters(model, seed=3)
    g = torch.Generator().manual_seed(0)
    comp = model.components(20000, g)
    torch.testing.assert_close(torch.bincount(comp, minlength=3) / 20000., model.log_weights.exp().float(),
                               atol=0.015, rtol=0)
    x = model.draw(torch.zeros(20000, dtype=torch.long), g).double()
    torch.testing.assert_close(x.mean(0), model.means[0], atol=0.05 * full[0].diagonal().max().sqrt(), rtol=0)
    torch.testing.assert_close(x.T.cov(), full[0], atol=0.06 * float(full[0].diagonal().max()), rtol=0)


def test_gaussian_mixture_refuses_images():
    with pytest.raises(ConfigError, match="gmm models real-valued points"):
        create("gmm", DatasetInfo("mnist", "train", (1, 28, 28)))


# --- Bernoulli mixture --------------------------------------------------------------------------------------
IMAGES3 = DatasetInfo("bits", "train", (1, 1, 3), kind="binary")


def bernoulli_mixture(k=3, info=IMAGES3, **kw):
    return create("bernoulli-mixture", info, components=k, **kw)


def test_bernoulli_mixture_normalises_over_all_binary_images():
    model = bernoulli_mixture()
    model.log_weights.copy_(torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64).log())
    model.probs.copy_(torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3], [0.99, 0.01, 0.6]], dtype=torch.float64))
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3))).reshape(8, 1, 1, 3)
    assert float(torch.logsumexp(model.log_prob(every).double(), 0)) == pytest.approx(0.0, abs=1e-6)
    want = torch.stack([Bernoulli(probs=model.probs[k]).log_prob(every.flatten(1).double()).sum(1)
                        for k in range(3)], 1)
    torch.testing.assert_close(model.component_log_prob(every.flatten(1).double()), want)


def test_bernoulli_m_step_with_smoothing_by_hand():
    model = bernoulli_mixture(k=2, info=DatasetInfo("bits", "train", (1, 1, 2), kind="binary"), smoothing=0.5)
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    resp = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    model.m_step(x, resp)
    want = torch.tensor([[1.5 + 0.5, 0.5 + 0.5], [0.5 + 0.5, 0.5 + 0.5]], dtype=torch.float64)
    torch.testing.assert_close(model.probs, want / torch.tensor([[1.5 + 1], [0.5 + 1]], dtype=torch.float64))


def test_bernoulli_em_is_monotone_and_a_never_seen_pixel_costs_finitely():
    mnist = dgm.data.load("mnist-10k").subset(slice(0, 500))
    x = (mnist.data > 127).float()
    torch.manual_seed(0)
    ml = bernoulli_mixture(5, mnist.info, smoothing=0.0)
    ml.initialize(x)
    lls = [float(ml.em_step(x)) for _ in range(15)]
    assert all(b >= a - 1e-9 for a, b in zip(lls, lls[1:])), lls
    corner = torch.zeros(1, 1, 28, 28)
    corner[..., 0, 0] = 1  # never on in MNIST
    assert float(ml.log_prob(corner)) < -1e29  # maximum likelihood: probability 0 (as good as)
    torch.manual_seed(0)
    smoothed = bernoulli_mixture(5, mnist.info, smoothing=1e-3)
    smoothed.initialize(x)
    for _ in range(15):
        smoothed.em_step(x)
    assert -1e4 < float(smoothed.log_prob(corner)) < float(smoothed.log_prob(torch.zeros(1, 1, 28, 28)))


def test_bernoulli_samples_are_binary_draws_or_component_means():
    model = bernoulli_mixture()
    g = torch.Generator().manual_seed(0)
    draws = model.sample(4000, generator=g)
    assert set(draws.unique().tolist()) <= {0.0, 1.0} and draws.shape == (4000, 1, 1, 3)
    w = model.log_weights.exp()
    torch.testing.assert_close(draws.mean(0).flatten().double(), w @ model.probs, atol=0.03, rtol=0)
    means = model.sample(5, generator=torch.Generator().manual_seed(1), mean=True)
    assert all(any(torch.equal(m.flatten().double(), p.float().double()) for p in model.probs) for m in means)
    assert model.sample_semantics({"mean": True}) == "component means" and model.sample_semantics({}) == "draws"


def test_initialisation_needs_a_batch_of_at_least_k():
    with pytest.raises(ConfigError, match="batches of at least 5"):
        bernoulli_mixture(5).initialize(torch.ones(3, 1, 1, 3))


# --- through the CLI ----------------------------------------------------------------------------------------
def test_gmm_trains_evaluates_and_samples_through_the_cli(tmp_path, capsys):
    run = tmp_path / "gmm"
    args = ["--data", "ring8", "--steps", "4", "--batch-size", "4000", "--set", "train.log_every=1", "--no-progress",
            "--out", str(run)]
    assert main(["train", "gmm", "--set", "model.components=8", *args]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("log_likelihood" in r for r in logged)
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "-n", "500", "--json"]) == 0
    out = capsys.readouterr().out
    record = json.loads(out[out.index("{"):])
    assert "nll" in json.dumps(record)
    assert main(["sample", str(run), "-n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
