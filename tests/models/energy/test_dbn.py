"""The deep belief network: its variational bound against enumeration (and below the exact log-likelihood), one
layer reducing to the RBM, greedy training one layer per phase on samples of the layer below, and the CLI path."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from dgm.cli.main import main
from dgm.data.dataset import DatasetInfo
from dgm.errors import ConfigError
from dgm.models import create
from dgm.models.energy.partition import all_states
from dgm.train import TrainConfig, Trainer
from dgm.train.callbacks import Callback


def dbn(hidden=(4, 3), d_shape=(1, 2, 3), seed=0, scale=0.7, **kw):
    torch.manual_seed(seed)
    model = create("dbn", DatasetInfo("bits", "train", d_shape, kind="binary"), hidden=hidden, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, scale)
    return model


def test_one_layer_is_the_rbm():
    model = dbn(hidden=(5,))
    v = all_states(6, 0, 64, torch.float32)
    top = model.top
    want = -top.free_energy(v) - top.exact_log_partition()
    torch.testing.assert_close(model.log_prob(v.reshape(64, 1, 2, 3)), want.detach(), rtol=1e-5, atol=1e-5)


def test_bound_against_enumeration():
    """Two layers (6-4-3): the bound averaged over many up-passes approaches E_Q[log p(v, h1) - log Q(h1 | v)]
    summed over the 16 states of h1, which lies below log p(v) = log sum_h1 p(v | h1) p(h1)."""
    model = dbn()
    low, top = model.layers
    v = all_states(6, 0, 64, torch.float32)[[3, 17, 42, 60]]
    h1 = all_states(4, 0, 16, torch.float32)
    with torch.no_grad():
        log_p_h1 = -top.free_energy(h1) - top.exact_log_partition()  # (16,)
        logits = h1 @ low.w.T + low.b  # (16, 6)
        log_p_v_h1 = (v[:, None] * logits[None] - F.softplus(logits)[None]).sum(2)  # (4, 16)
        q = low.hidden_probs(v)  # (4, 4)
        log_q = (h1[None] * torch.log(q[:, None]) + (1 - h1[None]) * torch.log1p(-q[:, None])).sum(2)
        exact_bound = (log_q.exp() * (log_p_v_h1 + log_p_h1 - log_q)).sum(1)
        log_p = torch.logsumexp(log_p_v_h1 + log_p_h1, 1)
    torch.manual_seed(1)
    got = model.log_prob(v.reshape(4, 1, 2, 3), samples=20_000)
    torch.testing.assert_close(got, exact_bound, rtol=0, atol=0.03)
    assert bool((exact_bound < log_p).all())


class Snapshots(Callback):
    """Each layer's weights before training and after every step."""

    def __init__(self):
        self.weights = []

    def on_fit_start(self, trainer):
        self.weights.append([layer.w.detach().clone() for layer in trainer.model.layers])

    def on_step_end(self, trainer, logs):
        self.weights.append([layer.w.detach().clone() for layer in trainer.model.layers])



def test_layers_train_one_phase_each_on_samples_from_below():
    import dgm.data

    images = dgm.data.load("mnist-10k").subset(slice(0, 64))
    model = create("dbn", images.info, hidden=(8, 6), persistent=True, chains=4, layer_shares=(0.25, 0.75))
    snaps = Snapshots()
    Trainer(model, images, TrainConfig(steps=8, batch_size=16, optimizer="sgd", lr=0.1), progress=False,
            callbacks=[snaps]).fit()
    changed = [[not torch.equal(a, b) for a, b in zip(now, before)]
               for now, before in zip(snaps.weights[1:], snaps.weights[:-1])]
    assert [c[0] for c in changed[:2]] == [True, True] and not any(c[1] for c in changed[:2])
    assert not any(c[0] for c in changed[2:]) and all(c[1] for c in changed[2:])
    low, top = model.layers
    assert float(low.data_count) == 2 * 16 and float(top.data_count) == 6 * 16  # each saw its own phase
    assert bool(((top.data_mean >= 0) & (top.data_mean <= 1)).all())


def test_each_layer_has_its_lr_scale():
    """layer_lr_scales multiply the scheduled lr in each layer's phase (the linear decay restarting in each)."""
    import dgm.data

    images = dgm.data.load("mnist-10k").subset(slice(0, 64))
    model = create("dbn", images.info, hidden=(8, 6), layer_shares=(0.5, 0.5), layer_lr_scales=(1.0, 0.2))
    lrs = []

    class Lr(Callback):
        def on_step_end(self, trainer, logs):  # the lr this step used
            lrs.append(trainer.optimizers["main"].param_groups[0]["lr"])

    Trainer(model, images, TrainConfig(steps=8, batch_size=16, optimizer="sgd", lr=0.1, lr_schedule="linear"),
            progress=False, callbacks=[Lr()]).fit()
    assert lrs[0] == pytest.approx(0.1) and lrs[1] < lrs[0]  # each phase's decay from the full lr
    assert lrs[4:] == pytest.approx([0.2 * a for a in lrs[:4]])  # the same points of the top's decay, a fifth
    assert create("dbn", images.info, hidden=(8, 6)).phase_lr_scale("layer2") == 1.0


def test_config_checks():
    info = DatasetInfo("bits", "train", (1, 2, 3), kind="binary")
    with pytest.raises(ConfigError, match="layer_lr_scales has 1 entries"):
        create("dbn", info, hidden=(4, 3), layer_lr_scales=(1.0,))
    with pytest.raises(ConfigError, match="must be positive"):
        create("dbn", info, hidden=(4, 3), layer_lr_scales=(1.0, 0.0))
    with pytest.raises(ConfigError, match="layer_shares has 1 entries for 2 layers"):
        create("dbn", info, hidden=(4, 3), layer_shares=(1.0,))
    with pytest.raises(ConfigError, match="sum to 1"):
        create("dbn", info, hidden=(4, 3), layer_shares=(0.5, 0.6))
    assert [s for _, s in create("dbn", info, hidden=(4, 3, 2)).training_phases()] == pytest.approx([1 / 3] * 3)


def test_cli_train_sample_eval(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--data", "mnist-10k", "--set", "model.hidden=[8,6]", "--set", "model.chains=6", "--set", "model.ais_steps=50", "--steps", "6", "--batch-size", "16", "--no-progress",
            "--set", "model.persistent=true", "--out", str(run)]
    assert main(["train", "dbn", *tiny]) == 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("pseudo_log_likelihood" in r for r in logged)
    assert main(["sample", str(run), "-n", "4", "--gibbs-steps", "10", "--trajectory", str(tmp_path / "t.png"),
                 "--out", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "-n", "20", "--json"]) == 0
    out = capsys.readouterr().out
    nll = json.loads(out[out.index("{"):])["metrics"]["nll"]
    assert nll["kind"] == "bound" and "variational bound" in nll["estimator"] and "log_z" in nll
