"""The Gaussian-Bernoulli RBM: free energy against the sum over hidden states, both conditionals against the
energy's closed forms, log Z against numerical integration over the visibles, AIS against the exact value, the
first batch's start, learned and fixed variances, and the CLI path on real-valued images."""
from __future__ import annotations

import json
import math

import pytest
import torch

from dgm.cli.main import main
from dgm.data.dataset import DatasetInfo
from dgm.models import Batch, create
from dgm.models.energy.partition import all_states



class RecordingContext:
    """The trainer's manual-path context reduced to what a test needs: backward as the trainer does, then step
    by clearing the gradients (keeping log_var's)."""

    def __init__(self, model):
        self.model, self.log_var_grad = model, None

    def backward(self, loss, group="main"):
        if loss.requires_grad:
            loss.backward()

    def step(self, group="main"):
        self.log_var_grad = self.model.layer.log_var.grad
        self.model.zero_grad()
        return True


def grbm(d_shape=(1, 1, 2), hidden=3, seed=0, scale=0.5, **kw):
    """A GRBM with N(0, scale^2) weights and biases and standard deviations in [0.5, 1.5]."""
    torch.manual_seed(seed)
    model = create("grbm", DatasetInfo("real", "train", d_shape), hidden=hidden, **kw)
    layer = model.layer
    with torch.no_grad():
        for p in (layer.w, layer.b, layer.c):
            p.normal_(0, scale)
        layer.log_var.copy_(torch.log((0.5 + torch.rand(layer.visible)) ** 2))
    return model


def energy(layer, v, h):
    """E(v, h) (B, S) for visibles v (B, D) and hidden states h (S, H), straight from the definition."""
    var = layer.var
    return (((v - layer.b).pow(2) / (2 * var)).sum(1)[:, None] - (h @ layer.c)[None]
            - (v / var) @ layer.w @ h.T)


def test_free_energy_sums_out_the_hidden_units():
    layer = grbm().layer
    v = torch.randn(5, 2)
    h = all_states(3, 0, 8, torch.float32)
    torch.testing.assert_close(layer.free_energy(v), -torch.logsumexp(-energy(layer, v, h), 1), rtol=1e-5, atol=1e-5)


def test_conditionals_match_the_energy():
    """p(h | v) by normalising exp(-E) over the 8 hidden states equals the product of sigmoids; -E(v, h) as a
    function of v differs from log N(v; b + W h, s^2) by a constant in v."""
    layer = grbm().layer
    v = torch.randn(4, 2)
    h = all_states(3, 0, 8, torch.float32)
    joint = torch.softmax(-energy(layer, v, h), 1)  # (4, 8): p(h | v) by enumeration
    q = layer.hidden_probs(v)
    factorised = (q[:, None] ** h[None] * (1 - q[:, None]) ** (1 - h[None])).prod(2)
    torch.testing.assert_close(factorised, joint, rtol=1e-5, atol=1e-6)
    normal = torch.distributions.Normal(layer.visible_mean(h[5:6]), layer.var.sqrt())
    diff = -energy(layer, v, h[5:6])[:, 0] - normal.log_prob(v).sum(1)
    torch.testing.assert_close(diff, diff[:1].expand(4), rtol=1e-5, atol=1e-5)


def test_exact_log_partition_against_numerical_integration():
    """Two visibles: log Z = log of the integral of exp(-F(v)) over the plane, by a fine grid."""
    layer = grbm(scale=0.4).layer
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    v = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        free = layer.double().free_energy(v)
    cell = float(grid[1] - grid[0]) ** 2
    numeric = float(torch.logsumexp(-free, 0)) + math.log(cell)
    assert layer.exact_log_partition() == pytest.approx(numeric, abs=1e-4)


def test_ais_matches_exact_enumeration():
    model = grbm((1, 4, 5), hidden=10, seed=2, scale=0.3)
    exact = model.layer.exact_log_partition()
    est = model.layer.ais(1000, 200, torch.Generator().manual_seed(0))
    assert abs(est.log_z - exact) < 0.1 and 0 < est.stderr < 0.1
    assert model.log_prob_kind == "bound"  # of 8-bit data: the dequantisation bound, log Z exact


def test_first_batch_sets_the_standardisation_and_the_chains():
    """The first batch's means and standard deviations (floored at min_std) standardise the data; the chains
    start at its standardised images; the variances of z start at 1 and stay above (min_std / scale)^2."""
    model = create("grbm", DatasetInfo("real", "train", (1, 2, 2)), hidden=3, persistent=True, chains=3)
    x = torch.rand(6, 1, 2, 2) * torch.tensor([0.1, 0.2, 0.3, 0.0]).reshape(1, 1, 2, 2)
    torch.manual_seed(0)
    model.training_step(Batch(x, None, 0), RecordingContext(model))
    flat = x.flatten(1)
    layer = model.layer
    torch.testing.assert_close(layer.shift, flat.mean(0))
    torch.testing.assert_close(layer.scale, flat.std(0).clamp(min=1 / 256))
    assert float(layer.scale[3]) == pytest.approx(1 / 256)  # a constant pixel stops at the floor
    assert bool(layer.initialized) and float(layer.log_scale()) == pytest.approx(float(torch.log(layer.scale).sum()))
    torch.testing.assert_close(layer.destandardize(layer.standardize(flat)), flat)
    # log p(x) = log p(z) - sum log scale: the density of x integrates to 1 when that of z does
    x2 = torch.rand(5, 1, 2, 2)
    with torch.no_grad():
        got = model.log_prob(x2) + 4 * math.log(256.0)
        want = -layer.free_energy(layer.standardize(x2.flatten(1))) - layer.exact_log_partition() - layer.log_scale()
    torch.testing.assert_close(got, want)


def test_learned_variances_get_gradients_and_fixed_ones_stay():
    x = torch.rand(6, 1, 2, 2)
    learned = create("grbm", DatasetInfo("real", "train", (1, 2, 2)), hidden=3)
    ctx = RecordingContext(learned)
    for step in range(2):
        learned.training_step(Batch(x, None, step), ctx)
    assert ctx.log_var_grad is not None and float(ctx.log_var_grad.abs().sum()) > 0


def test_fixed_variances_are_a_buffer():
    model = create("grbm", DatasetInfo("real", "train", (1, 2, 2)), hidden=3, learn_variance=False)
    assert "layer.log_var" not in dict(model.named_parameters()) and "layer.log_var" in dict(model.named_buffers())


def test_cli_train_sample_eval(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--data", "mnist-10k", "--set", "model.hidden=8", "--set", "model.chains=6", "--steps", "4", "--batch-size", "16", "--no-progress",
            "--set", "model.persistent=true", "--out", str(run)]
    assert main(["train", "grbm", *tiny]) == 0
    assert main(["sample", str(run), "-n", "4", "--gibbs-steps", "10", "--out", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "-n", "20", "--json"]) == 0
    out = capsys.readouterr().out
    nll = json.loads(out[out.index("{"):])["metrics"]["nll"]
    assert nll["kind"] == "bound" and "dequantised" in nll["likelihood_note"] and math.isfinite(nll["nll_nats"])
