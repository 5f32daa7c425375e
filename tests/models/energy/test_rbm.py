"""The binary RBM: free energy and log Z against brute-force sums, AIS against exact enumeration, the CD gradient
against the exact log-likelihood gradient, persistent chains, Gibbs sampling and trajectories, and the CLI path
(train, sample with a chain-evolution grid, eval with an exact or an AIS log Z)."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from dgm.cli.main import main
from dgm.data.dataset import DatasetInfo
from dgm.models import Batch, ShowsTrajectory, StepwiseSampler, create
from dgm.models.energy.partition import (all_states, ais_log_partition, base_rate_biases, exact_log_partition,
                                         paper_schedule)


def rbm(d_shape=(1, 2, 3), hidden=4, seed=0, scale=0.5, **kw):
    """An RBM over images of d_shape with N(0, scale^2) weights and biases."""
    torch.manual_seed(seed)
    model = create("rbm", DatasetInfo("bits", "train", d_shape, kind="binary"), hidden=hidden, **kw)
    with torch.no_grad():
        for p in (model.w, model.b, model.c):
            p.normal_(0, scale)
    return model


def brute_log_z(model) -> torch.Tensor:
    """log sum_v sum_h exp(b.v + c.h + v'Wh), every (v, h) enumerated, differentiable in the parameters."""
    d, h = model.w.shape
    v, hs = all_states(d, 0, 2 ** d, torch.float32), all_states(h, 0, 2 ** h, torch.float32)
    neg_energy = (v @ model.b)[:, None] + (hs @ model.c)[None] + v @ model.w @ hs.T
    return torch.logsumexp(neg_energy.flatten(), 0)


def test_free_energy_sums_out_the_hidden_units():
    model = rbm()
    d, h = model.w.shape
    v = all_states(d, 0, 2 ** d, torch.float32)
    hs = all_states(h, 0, 2 ** h, torch.float32)
    want = -torch.logsumexp((v @ model.b)[:, None] + (hs @ model.c)[None] + v @ model.w @ hs.T, 1)
    torch.testing.assert_close(model.free_energy(v), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hidden", [3, 9])  # fewer hiddens than visibles, then more: either layer enumerated
def test_exact_log_partition_and_normalisation(hidden):
    model = rbm(hidden=hidden)
    assert exact_log_partition(model.w, model.b, model.c) == pytest.approx(float(brute_log_z(model).detach()), abs=1e-5)
    every = all_states(6, 0, 64, torch.float32).reshape(64, 1, 2, 3)
    assert model.log_prob_kind == "exact"
    assert float(torch.logsumexp(model.log_prob(every).detach(), 0)) == pytest.approx(0.0, abs=1e-5)


def test_ais_matches_exact_enumeration():
    """12 hidden units over 30 visibles with weights of a trained RBM's scale: AIS within 0.1 nats."""
    model = rbm((1, 5, 6), hidden=12, seed=1, scale=0.3)
    exact = exact_log_partition(model.w, model.b, model.c)
    data_mean = torch.rand(30, generator=torch.Generator().manual_seed(2))
    est = ais_log_partition(model.w.detach(), model.b.detach(), model.c.detach(), base_rate_biases(data_mean),
                            paper_schedule(2000), runs=200, generator=torch.Generator().manual_seed(0))
    assert abs(est.log_z - exact) < 0.1 and 0 < est.stderr < 0.1 and est.runs == 200 and est.steps == 2000
    few = ais_log_partition(model.w.detach(), model.b.detach(), model.c.detach(), base_rate_biases(data_mean),
                            paper_schedule(3), runs=200, generator=torch.Generator().manual_seed(0))
    assert few.stderr > est.stderr  # three temperatures: far noisier


def test_effective_sample_size_and_the_unreliable_estimate():
    """ESS = (sum w)^2 / sum w^2: all runs for equal weights, about one when one run dominates (as a sharp model
    with too few temperatures gives); an unreliable estimate's record has a warning instead of an interval."""
    from dgm.models.energy.partition import AISEstimate, partition_fields

    equal = AISEstimate(1.0, 0.0, torch.full((50,), 3.0, dtype=torch.float64), 10)
    assert equal.ess == pytest.approx(50) and equal.reliable
    lw = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    w = lw.exp()
    assert AISEstimate(1.0, 0.0, lw, 10).ess == pytest.approx(float(w.sum() ** 2 / (w ** 2).sum()))
    dominated = AISEstimate(1.0, 1.0, torch.cat([torch.tensor([40.0]), torch.zeros(99)]).double(), 10)
    assert dominated.ess == pytest.approx(1.0, abs=1e-6) and not dominated.reliable
    good = partition_fields(90.0, 1.0, 0.1, AISEstimate(1.0, 0.1, torch.zeros(20).double(), 10))
    assert good["nll_interval_nats"] == pytest.approx([89.7, 90.3]) and "ais_warning" not in good
    bad = partition_fields(90.0, 1.0, 1.0, dominated)
    assert "nll_interval_nats" not in bad and bad["ais_ess"] == 1.0 and "--ais-steps" in bad["ais_warning"]
    from dgm.cli.eval_report import format_record

    rec = {"nll_nats": 90.0, "bits_per_dim": 0.1, "estimator": "ais", "n": 3, "input_transform": "binary", **bad}
    text = format_record({"model": "rbm", "dataset": "bits", "split": "test", "metrics": {"nll": rec}, "eval_s": 1})
    assert "WARNING: AIS unreliable" in text and "interval" not in text


def test_paper_schedule():
    betas = paper_schedule()
    assert len(betas) == 14_501 and betas[0] == 0 and betas[-1] == 1 and bool((betas.diff() > 0).all())
    assert int((betas < 0.5).sum()) == 500 and int(((betas >= 0.5) & (betas < 0.9)).sum()) == 4000


def test_cd_gradient_follows_the_exact_likelihood_gradient():
    """With long chains (CD-100 from 4,000 copies of the data) the CD loss's gradient is minus the exact
    gradient of the mean log-likelihood (brute-force log Z) up to sampling noise."""
    model = rbm(hidden=3, seed=4, scale=0.4, cd_k=100)
    data = torch.tensor([[1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0], [1, 1, 1, 0, 1, 0], [0, 1, 0, 0, 1, 1]],
                        dtype=torch.float32)
    exact = torch.autograd.grad(-model.free_energy(data).mean() - brute_log_z(model), [model.w, model.b, model.c])
    torch.manual_seed(0)
    batch = data.repeat(1000, 1).reshape(4000, 1, 2, 3)
    ctx = RecordingContext(model)
    model.training_step(Batch(batch, None, 0), ctx)
    cd = torch.cat([-g.flatten() for g in ctx.grads])
    want = torch.cat([g.flatten() for g in exact])
    cosine = float(cd @ want / (cd.norm() * want.norm()))
    assert cosine > 0.98, cosine
    big = want.abs() > 0.05
    assert bool((cd.sign() == want.sign())[big].all())


class RecordingContext:
    """The trainer's manual-path context reduced to what a test needs: backward, then keep the gradients."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def backward(self, loss, group="main"):
        if loss.requires_grad:  # as the trainer's: the CD gradient is set in closed form, regularisers by autograd
            loss.backward()

    def step(self, group="main"):
        self.grads = [p.grad.clone() for p in (self.model.w, self.model.b, self.model.c)]
        self.model.zero_grad()
        return True


@pytest.mark.parametrize("reg", [{}, {"weight_cost": 0.3, "sparsity_target": 0.2, "sparsity_cost": 0.7}])
def test_closed_form_cd_gradient_is_that_of_the_free_energy_difference(reg):
    """The gradients training_step sets equal autograd's of mean F(v) - mean F(v~) (plus the regularisers) at
    the same negatives v~ (PCD chains of another count than the batch)."""
    model = rbm((1, 2, 3), hidden=4, persistent=True, chains=5, **reg)
    v = (torch.rand(8, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    torch.manual_seed(2)
    neg, _ = model.gibbs(model.chains.clone(), 1)
    loss = model.free_energy(v).mean() - model.free_energy(neg).mean()
    if reg:
        q = model.hidden_probs(v).mean(0)
        loss = loss + 0.15 * model.w.pow(2).sum() + 0.7 * F.binary_cross_entropy(q, torch.full_like(q, 0.2),
                                                                                 reduction="sum")
    want = torch.autograd.grad(loss, [model.w, model.b, model.c])
    torch.manual_seed(2)
    ctx = RecordingContext(model)
    out = model.training_step(Batch(v.reshape(8, 1, 2, 3), None, 0), ctx)
    for got, exp in zip(ctx.grads, want):
        torch.testing.assert_close(got, exp, rtol=1e-5, atol=1e-6)
    assert float(out["loss"]) == pytest.approx(float(loss.detach()), abs=1e-5)


def test_persistent_chains_carry_on_from_step_to_step():
    model = rbm((1, 4, 4), hidden=5, persistent=True, chains=7, cd_k=3)
    data = (torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    batch = Batch(data, None, 1)
    for _ in range(2):
        before = model.chains.clone()
        torch.manual_seed(5)
        want, _ = model.gibbs(before, 3)
        torch.manual_seed(5)
        model.training_step(batch, RecordingContext(model))
        assert torch.equal(model.chains, want) and not torch.equal(model.chains, before)
    assert model.chains.shape == (7, 16)
    cd = rbm((1, 4, 4), hidden=5)
    assert cd.chains.numel() == 0  # plain CD keeps no chains


def test_base_rates_are_the_mean_of_every_image_seen():
    model = rbm((1, 2, 3), hidden=4)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(n, 1, 2, 3, generator=g) < 0.3).float() for n in (10, 7, 10)]
    for x in batches:
        model.training_step(Batch(x, None, 1), RecordingContext(model))
    torch.testing.assert_close(model.data_mean, torch.cat(batches).flatten(1).double().mean(0))
    assert float(model.layer.data_count) == 27


def test_gibbs_trajectory_and_samples():
    model = rbm((1, 2, 3), hidden=4)
    assert isinstance(model, ShowsTrajectory) and not isinstance(model, StepwiseSampler)
    frames, marks = model.trajectory(5, 4, generator=torch.Generator().manual_seed(0), gibbs_steps=40)
    assert frames.shape == (4, 5, 1, 2, 3) and marks == [10, 20, 30, 40]
    last = model.sample(5, generator=torch.Generator().manual_seed(0), gibbs_steps=40)
    torch.testing.assert_close(last, frames[-1])
    draws = model.sample(5, generator=torch.Generator().manual_seed(0), gibbs_steps=40, mean=False)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}


def test_long_gibbs_chains_reach_the_model_distribution():
    """The visible marginals of 4,000 chains after 200 sweeps match the exact ones from enumeration."""
    model = rbm(hidden=4, seed=3, scale=0.8)
    every = all_states(6, 0, 64, torch.float32)
    p = torch.exp(-model.free_energy(every) - exact_log_partition(model.w, model.b, model.c)).detach()
    draws = model.sample(4000, generator=torch.Generator().manual_seed(1), gibbs_steps=200, mean=False)
    torch.testing.assert_close(draws.flatten(1).mean(0), p @ every, atol=0.03, rtol=0)


def test_ais_log_partition_is_cached_until_the_weights_change():
    model = rbm((1, 5, 5), hidden=25, ais_steps=30, ais_runs=10)  # 25 x 25: no enumeration
    assert not model.exact and model.log_prob_kind == "estimate"
    first = model.log_partition()
    assert model.log_partition() is first
    assert "AIS estimate" in model.likelihood_note and "10 runs" in model.likelihood_note
    with torch.no_grad():
        model.w.mul_(2)
    assert model.log_partition()[0] != first[0]


def test_rbm_through_the_cli(tmp_path, capsys):
    run = tmp_path / "rbm"
    tiny = ["--data", "mnist-10k", "--steps", "3", "--batch-size", "20", "--no-progress", "--set", "model.hidden=10",
            "--set", "model.persistent=true", "--set", "model.chains=6", "--out", str(run)]
    assert main(["train", "rbm", *tiny]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("pseudo_log_likelihood" in r and "reconstruction_error" in r for r in logged)
    assert main(["sample", str(run), "-n", "4", "--gibbs-steps", "20", "--trajectory", str(tmp_path / "chains.png"),
                 "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "chains.png").is_file()
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "-n", "40", "--json"]) == 0
    out = capsys.readouterr().out
    nll = json.loads(out[out.index("{"):])["metrics"]["nll"]
    assert nll["kind"] == "exact" and "enumeration" in nll["likelihood_note"]


def test_eval_sets_the_ais_estimator(tmp_path, capsys):
    """dgm eval --ais-steps / --ais-runs: this evaluation's AIS settings, recorded; too few runs to count get the
    warning on stderr; models without AIS refuse the flags in one line."""
    run = tmp_path / "rbm"
    assert main(["train", "rbm", "--data", "mnist-10k", "--steps", "3", "--batch-size", "20", "--no-progress",
                 "--set", "model.hidden=24", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "-n", "20", "--json", "--ais-steps", "30",
                 "--ais-runs", "5"]) == 0
    out = capsys.readouterr().out
    nll = json.loads(out[out.index("{"):])["metrics"]["nll"]
    assert nll["ais_steps"] == 30 and nll["ais_runs"] == 5 and 1 <= nll["ais_ess"] <= 5
    assert main(["eval", str(run), "--metrics", "nll", "-n", "20", "--ais-steps", "2"]) == 2
    assert "at least 3" in capsys.readouterr().err
    vae = tmp_path / "vae"
    assert main(["train", "vae", "--steps", "1", "--no-progress", "--set", "model.hidden=[8]", "--out", str(vae)]) == 0
    capsys.readouterr()
    assert main(["eval", str(vae), "--metrics", "nll", "-n", "4", "--ais-steps", "100"]) == 2
    assert "only energy models" in capsys.readouterr().err


def test_pseudo_likelihood_flips_one_bit_by_the_free_energy():
    """The incremental flip (pre-activations +- W_i) against free energies of explicitly flipped images, at the same
    random bits; and log p(v_i | v_-i) = log sigmoid(F(flipped) - F(v)) against the conditional by enumeration."""
    model = rbm(hidden=5, scale=0.5)
    v = (torch.rand(7, 6, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    torch.manual_seed(11)
    got = model.pseudo_likelihood(v)
    torch.manual_seed(11)
    i = torch.randint(6, (7,))
    flipped = v.clone()
    flipped[torch.arange(7), i] = 1 - flipped[torch.arange(7), i]
    with torch.no_grad():
        f_v, f_flip = model.free_energy(v), model.free_energy(flipped)
        # the conditional of bit i given the rest from the two unnormalised probabilities exp(-F)
        cond = torch.exp(-f_v) / (torch.exp(-f_v) + torch.exp(-f_flip))
    torch.testing.assert_close(got, (6 * torch.log(cond)).mean(), rtol=1e-5, atol=1e-5)


def test_ais_evaluation_names_its_estimator_and_interval():
    """Beyond 20 units in both layers log Z is an AIS estimate: the NLL record says so, with log Z's standard
    error and the +-3 standard error interval of the NLL, and the note says which way AIS errs."""
    from dgm.data.dataset import ImageDataset
    from dgm.metrics.likelihood import negative_log_likelihood

    model = rbm((1, 5, 5), hidden=21, scale=0.1, ais_steps=60, ais_runs=16)
    assert model.log_prob_kind == "estimate" and model.likelihood_estimator == "ais"
    images = (torch.rand(30, 1, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.5).to(torch.uint8) * 255
    data = ImageDataset(images, None, DatasetInfo("bits", "test", (1, 5, 5), kind="binary"))
    rec = negative_log_likelihood(model, data)
    assert rec["kind"] == "estimate" and rec["estimator"] == "ais" and rec["ais_runs"] == 16
    assert rec["ais_steps"] == 60 and rec["log_z_stderr"] > 0 and rec["ais_seconds"] >= 0
    lo, hi = rec["nll_interval_nats"]
    assert lo == pytest.approx(rec["nll_nats"] - 3 * rec["log_z_stderr"]) and hi > rec["nll_nats"] > lo
    assert "AIS estimate" in rec["likelihood_note"] and "E[log Z_AIS] <= log Z" in rec["likelihood_note"]
    from dgm.cli.eval_report import format_record

    text = format_record({"model": "rbm", "dataset": "bits", "split": "test", "metrics": {"nll": rec}, "eval_s": 1})
    assert f"interval [{lo:.3f}, {hi:.3f}] nats" in text
