"""The deep Boltzmann machine: log Z through the (v, h2) | h1 RBM against brute force over all three layers, AIS
against it, the mean-field updates (fixed point, a bound that never decreases, below the exact log-likelihood),
the joint phase's closed-form gradient against autograd, the three training phases, and the CLI path."""
from __future__ import annotations

import json

import pytest
import torch

from dgm.cli.main import main
from dgm.data.dataset import DatasetInfo
from dgm.errors import ConfigError
from dgm.models import Batch, create
from dgm.models.energy.partition import ais_log_partition, all_states, paper_schedule
from dgm.train import TrainConfig, Trainer, read_checkpoint

from dgm.train.callbacks import Callback


def dbm(hidden=(3, 2), d_shape=(1, 2, 2), seed=0, scale=0.8, **kw):
    torch.manual_seed(seed)
    model = create("dbm", DatasetInfo("bits", "train", d_shape, kind="binary"), hidden=hidden, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, scale)
    return model


def brute_log_joint(model) -> tuple[torch.Tensor, torch.Tensor]:
    """-E over every (v, h1, h2) (2^D, 2^H1, 2^H2) and every v (2^D, D) of a tiny DBM."""
    d, h1n, h2n = model.sizes
    v, h1, h2 = (all_states(n, 0, 2 ** n, torch.float32) for n in (d, h1n, h2n))
    vv = v[:, None, None].expand(-1, len(h1), len(h2), -1).reshape(-1, d)
    hh1 = h1[None, :, None].expand(len(v), -1, len(h2), -1).reshape(-1, h1n)
    hh2 = h2[None, None].expand(len(v), len(h1), -1, -1).reshape(-1, h2n)
    with torch.no_grad():
        return -model.energy(vv, hh1, hh2).reshape(len(v), len(h1), len(h2)), v


def test_log_partition_through_the_rbm_with_h1_summed_out():
    model = dbm()
    neg_e, _ = brute_log_joint(model)
    assert model.exact and model.log_partition()[0] == pytest.approx(float(torch.logsumexp(neg_e.flatten(), 0)),
                                                                     abs=1e-5)


def test_ais_matches_exact_enumeration():
    model = dbm(hidden=(12, 10), d_shape=(1, 4, 5), seed=1, scale=0.3, ais_steps=1000, ais_runs=200)
    exact = model.log_partition()[0]  # h1 has 12 units: enumerated
    w, b, c = (t.detach() for t in model.as_rbm())
    est = ais_log_partition(w, b, c, torch.zeros(len(b)), paper_schedule(1000), 200, torch.Generator().manual_seed(0))
    assert abs(est.log_z - exact) < 0.1 and est.stderr < 0.1


def test_mean_field_bound_never_decreases_and_reaches_the_fixed_point():
    model = dbm(hidden=(6, 5), d_shape=(1, 2, 4), scale=1.0)
    v = (torch.rand(16, 8, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    trace: list[torch.Tensor] = []
    mu1, mu2 = model.mean_field(v, 50, trace)
    steps = torch.stack(trace)  # (1 + 2 * 50, B): after the start and after each half-update
    assert bool((steps.diff(dim=0) >= -1e-5).all())
    assert bool((steps[-1] > steps[0] + 1e-3).any())  # the updates did move it
    with torch.no_grad():
        torch.testing.assert_close(mu1, torch.sigmoid(model.h1_input(v, mu2)), rtol=0, atol=1e-5)
        torch.testing.assert_close(mu2, model.h2_probs(mu1), rtol=0, atol=1e-5)


def test_bound_lies_below_the_exact_log_likelihood():
    model = dbm()
    neg_e, v = brute_log_joint(model)
    log_z = float(torch.logsumexp(neg_e.flatten(), 0))
    log_p = torch.logsumexp(neg_e.flatten(1), 1) - log_z
    bound = model.log_prob(v.reshape(-1, 1, 2, 2))
    assert bool((bound <= log_p + 1e-5).all()) and float((log_p - bound).max()) < 3.0


@pytest.mark.parametrize("sweeps", [1, 3])
def test_joint_gradient_is_that_of_the_energy_difference(sweeps):
    model = dbm(hidden=(4, 3), d_shape=(1, 2, 3), chains=5, weight_cost=0.1, joint_sweeps=sweeps)
    model.joint_steps.fill_(1)  # chains already started
    v = (torch.rand(7, 6, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    mu1, mu2 = model.mean_field(v, model.config.mean_field_steps)
    torch.manual_seed(3)
    state, _ = model.gibbs(model.chains.clone(), sweeps)
    d, h1n, _ = model.sizes
    loss = model.energy(v, mu1, mu2).mean() - model.energy(state[:, :d], state[:, d:d + h1n], state[:, d + h1n:]).mean()
    loss = loss + 0.05 * (model.bottom.w.pow(2).sum() + model.top.w.pow(2).sum())
    params = [model.bottom.w, model.top.w, model.bottom.b, model.bottom.c, model.top.c]
    want = torch.autograd.grad(loss, params)
    torch.manual_seed(3)
    got, _ = model.joint_loss(v)
    for p, g in zip(params, want):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)
    assert torch.equal(model.chains, state) and model.top.b.grad is None


def test_first_joint_step_starts_the_chains_from_the_data():
    """Step one: the chains become the batch (cycled) with h1, h2 drawn from its mean field, then move; later
    steps only move them."""
    model = dbm(hidden=(4, 3), d_shape=(1, 2, 3), chains=5)
    v = (torch.rand(3, 6, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    mu1, mu2 = model.mean_field(v, model.config.mean_field_steps)
    torch.manual_seed(3)
    start = model.data_chains(v, mu1, mu2)
    want, _ = model.gibbs(start, 1)
    torch.manual_seed(3)
    model.joint_loss(v)
    assert torch.equal(start[:, :6], v[[0, 1, 2, 0, 1]]) and torch.equal(model.chains, want)
    assert int(model.joint_steps) == 1
    torch.manual_seed(4)
    want, _ = model.gibbs(model.chains.clone(), 1)
    torch.manual_seed(4)
    model.joint_loss(v)
    assert torch.equal(model.chains, want) and int(model.joint_steps) == 2


def test_three_phases_train_their_own_parameters():
    import dgm.data

    images = dgm.data.load("mnist-10k").subset(slice(0, 64))
    model = create("dbm", images.info, hidden=(8, 6), persistent=True, chains=4, phase_shares=(0.25, 0.25, 0.5))
    seen = []

    class Watch(Callback):
        def on_step_end(self, trainer, logs):
            seen.append([p.detach().clone() for p in (model.bottom.w, model.top.w)])

        def on_fit_start(self, trainer):
            seen.append([p.detach().clone() for p in (model.bottom.w, model.top.w)])

    Trainer(model, images, TrainConfig(steps=8, batch_size=16, optimizer="sgd", lr=0.1), progress=False,
            callbacks=[Watch()]).fit()
    moved = [[not torch.equal(a, b) for a, b in zip(now, before)] for now, before in zip(seen[1:], seen[:-1])]
    assert moved == [[True, False]] * 2 + [[False, True]] * 2 + [[True, True]] * 4
    assert float(model.base_count) == 4 * 16  # the joint phase's means of v and mu2


def test_config_checks():
    info = DatasetInfo("bits", "train", (1, 2, 3), kind="binary")
    with pytest.raises(ConfigError, match="two hidden layers"):
        create("dbm", info, hidden=(4, 3, 2))
    with pytest.raises(ConfigError, match="phase_shares"):
        create("dbm", info, hidden=(4, 3), phase_shares=(0.5, 0.5, 0.5))


def test_cli_train_sample_eval(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--data", "mnist-10k", "--set", "model.hidden=[8,6]", "--set", "model.chains=6", "--set", "model.ais_steps=50", "--steps", "8", "--batch-size", "16", "--no-progress",
            "--out", str(run)]
    assert main(["train", "dbm", *tiny]) == 0
    assert main(["sample", str(run), "-n", "4", "--gibbs-steps", "10", "--trajectory", str(tmp_path / "t.png"),
                 "--out", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "-n", "20", "--json"]) == 0
    out = capsys.readouterr().out
    nll = json.loads(out[out.index("{"):])["metrics"]["nll"]
    assert nll["kind"] == "bound" and "mean-field" in nll["estimator"]


def test_training_step_outside_a_trainer_is_the_joint_phase():
    model = dbm(hidden=(4, 3), d_shape=(1, 2, 3), chains=5)
    x = (torch.rand(4, 1, 2, 3) < 0.5).float()
    class Ctx:  # no phase: the joint phase
        def backward(self, loss, group="main"):
            pass

        def step(self, group="main"):
            return True

    out = model.training_step(Batch(x, None, 0), Ctx())
    assert float(out["phase"]) == 3 and "mean_field_bound_unnormalised" in out


class StopAt(Callback):
    """Ends fit() at a step, as a run killed and checkpointed there (its schedule and phases unchanged)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, logs):
        if trainer.step == self.step:
            trainer.done = lambda: True


@pytest.mark.parametrize("stop, phase", [(13, "top"), (22, "joint")])
def test_resume_in_the_middle_of_a_phase_is_exact(tmp_path, stop, phase):
    """30 steps straight == ``stop`` steps (in the top RBM's or the joint phase), checkpoint, a fresh model and
    trainer resumed: the phase and its lr follow from the step alone; the joint phase's chains, their start
    and base rates carry on."""
    import dgm.data

    images = dgm.data.load("mnist-10k").subset(slice(0, 250))
    cfg = dict(hidden=(8, 6), persistent=True, chains=10, phase_shares=(0.2, 0.3, 0.5))
    settings = dict(steps=30, batch_size=32, optimizer="sgd", lr=0.05, lr_schedule="linear", seed=3)

    def trainer(seed, run_dir=None, callbacks=()):
        torch.manual_seed(seed)
        return Trainer(create("dbm", images.info, **cfg), images, TrainConfig(**settings), run_dir=run_dir,
                       model_name="dbm", progress=False, callbacks=list(callbacks))

    torch.manual_seed(0)
    straight = trainer(0)
    straight.fit()
    torch.manual_seed(0)
    first = trainer(0, tmp_path / "run", [StopAt(stop)])
    first.fit()
    assert first.phase()[0] == phase
    first.save_checkpoint()
    resumed = trainer(99)
    torch.manual_seed(5)  # scrambled: the checkpoint restores the global RNG
    resumed.load_state(read_checkpoint(tmp_path / "run"))
    resumed.fit()
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_sampling_chains_start_from_the_base_rates():
    # sampling starts where AIS starts: v and h2 drawn from the running means of v and mu2 (uniform random
    # images start far from every mode; the chains then settle into one blurred state)
    model = dbm(hidden=(3, 2), d_shape=(1, 2, 2))
    d = 4
    model.base_mean.copy_(torch.tensor([0.9, 0.1, 0.0, 1.0, 0.2, 0.8], dtype=torch.float64))
    start = model.chain_start(20000, torch.Generator().manual_seed(0))
    assert start.shape == (20000, d + 3 + 2)
    means = start.mean(0)
    torch.testing.assert_close(means[:d], torch.tensor([0.9, 0.1, 0.0, 1.0]), atol=0.01, rtol=0)
    torch.testing.assert_close(means[d + 3:], torch.tensor([0.2, 0.8]), atol=0.01, rtol=0)
    assert abs(float(means[d:d + 3].mean()) - 0.5) < 0.02
