"""Time budgets (stop within one step, final checkpoint, exit 0, evaluation not charged), periodic validation
(never the test split; the learning curve; keep-best keeps the right checkpoint), the carved validation split,
and precision=auto."""
from __future__ import annotations

import json
import time

import pytest
import torch

import dgm.data
import dgm.data.registry
from dgm.cli.main import main
from dgm.data.validation import carve_validation, spread_subset
from dgm.train import read_checkpoint
from dgm.train import evaluation
from dgm.train.evaluation import ValidationMetric
from dgm.train.precision import resolve_precision


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_time_budget_stops_within_a_step_with_a_final_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    t0 = time.perf_counter()
    code = main(["train", "vae", "--time-budget", "1.5", "--set", "model.hidden=[16]", "--batch-size", "32",
                 "--no-progress", "--out", str(run)])
    wall = time.perf_counter() - t0
    assert code == 0
    ckpt = read_checkpoint(run)
    st = ckpt.train_state
    assert st["step"] > 10 and st["step"] < 10**6  # the preset's 10,000 steps gave way to the budget
    assert ckpt.config["train"]["steps"] is None and ckpt.config["train"]["time_budget_s"] == 1.5
    steps = records(run)
    per_step = st["train_seconds"] / st["step"]
    assert 1.5 <= st["train_seconds"] <= 1.5 + 5 * per_step + 0.05  # within about one step of the budget
    assert wall < 30
    assert "time budget 1.5 s spent" in capsys.readouterr().out
    assert steps[-1]["step"] == st["step"]

    # resuming a spent budget does nothing; a larger one continues from the recorded training seconds
    assert main(["train", "vae", "--resume", str(run), "--no-progress"]) == 0
    assert read_checkpoint(run).step == st["step"]
    assert main(["train", "vae", "--resume", str(run), "--time-budget", "2.5", "--no-progress"]) == 0
    again = read_checkpoint(run).train_state
    assert again["step"] > st["step"] and 2.5 <= again["train_seconds"] < 2.5 + 0.5


class Scripted:
    """A stand-in validation metric: the given values in turn, each taking ``sleep`` seconds."""

    def __init__(self, values, sleep=0.0):
        self.values, self.sleep, self.calls = list(values), sleep, 0

    def __call__(self, model, data, n, seed=0):
        def compute(m):
            time.sleep(self.sleep)
            self.calls += 1
            return self.values[min(self.calls - 1, len(self.values) - 1)]

        return ValidationMetric("scripted", "exact", compute)


def test_evaluation_time_is_not_charged_to_the_budget(tmp_path, make_model, make_trainer, tiny_data, monkeypatch):
    scripted = Scripted([1.0], sleep=0.25)
    monkeypatch.setattr(evaluation, "choose_metric", scripted)
    tr = make_trainer(make_model(), steps=None, time_budget_s=1.0,
                      callbacks=[evaluation.PeriodicEval(tiny_data, 3, 0.0, 50, False)])
    t0 = time.perf_counter()
    tr.fit()
    wall = time.perf_counter() - t0
    assert scripted.calls >= 4
    assert tr.clock.seconds() < 1.25  # the ~0.25 s of every evaluation came off the clock
    assert wall >= 1.0 + 0.25 * scripted.calls * 0.9


def test_keep_best_keeps_the_best_validation_checkpoint(tmp_path, monkeypatch):
    scripted = Scripted([5.0, 3.0, 4.0, 2.0, 6.0, 7.0])
    monkeypatch.setattr(evaluation, "choose_metric", scripted)
    run = tmp_path / "run"
    assert main(["train", "vae", "--steps", "25", "--set", "model.hidden=[16]", "--set", "train.eval_every=5",
                 "--set", "train.keep_best=true", "--no-progress", "--out", str(run)]) == 0
    curve = [r for r in records(run) if "val/scripted" in r]
    assert [r["step"] for r in curve] == [5, 10, 15, 20, 25]
    assert [r["val/scripted"] for r in curve] == [5.0, 3.0, 4.0, 2.0, 6.0]
    best = read_checkpoint(run / "best")
    assert best.step == 20 and best.train_state["best"] == {"metric": "scripted", "value": 2.0, "step": 20}
    assert len([p for p in (run / "best").iterdir() if p.name.startswith("step-")]) == 1
    assert read_checkpoint(run).train_state["best"]["step"] == 20  # carried by the last checkpoint for resume


@pytest.fixture
def no_test_split(monkeypatch):
    """Fail any load of a test split while the fixture is active."""
    real = dgm.data.registry.load

    def guarded(name, split="train", *a, **kw):
        assert split != "test", f"periodic evaluation loaded the test split of {name}"
        return real(name, split, *a, **kw)

    monkeypatch.setattr(dgm.data.registry, "load", guarded)
    monkeypatch.setattr(dgm.data, "load", guarded)


DDPM = ["model.channels=8", "model.channel_mult=[1,2]", "model.attention_levels=[1]", "model.heads=2", "model.blocks=1",
        "model.steps=20", "model.sample_steps=4"]


@pytest.mark.parametrize("model,sets,key", [
    ("vae", ["model.hidden=[16]"], "val/neg_elbo_nats"),
    ("pixelcnn", ["model.channels=8", "model.blocks=1", "model.out_hidden=8"], "val/nll_nats"),
    ("dcgan", ["model.channels=8", "model.fc_hidden=0"], "val/fid_mnist-cnn"),
    ("ddpm", DDPM, "val/fid_mnist-cnn"),
    ("ddpm", DDPM + ["model.validate_by=bound", "model.bound_terms=3"], "val/neg_elbo_nats")])
def test_periodic_evaluation_uses_validation_never_test(tmp_path, no_test_split, model, sets, key):
    run = tmp_path / "run"
    argv = ["train", model, "--steps", "4", "--batch-size", "16", "--set", "train.eval_every=2",
            "--set", "train.eval_n=64", "--no-progress", "--out", str(run)]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    curve = [r for r in records(run) if any(k.startswith("val/") for k in r)]
    assert [r["step"] for r in curve] == [2, 4]
    assert all(r["val/split"] == "valid-carved" and r["val/n"] == 64 for r in curve)
    assert all(r[key] > 0 and torch.isfinite(torch.tensor(r[key])) for r in curve)
    cfg = (run / "config.yaml").read_text()
    assert "validation: valid-carved (900)" in cfg and "train_size: 8100" in cfg


def test_carved_validation_is_fixed_disjoint_and_removed_from_training(tiny_data):
    train, valid = carve_validation(tiny_data, 100)
    assert len(valid) == 25 and len(train) == 225  # at most 10% of 250
    assert valid.info.split == "valid-carved"
    again_train, again_valid = carve_validation(tiny_data, 100)
    assert torch.equal(valid.data, again_valid.data)  # the same images for every run
    rows = {bytes(x.numpy().tobytes()) for x in tiny_data.data}
    assert len(rows) == 250  # (so membership below is exact)
    seen_valid = {bytes(x.numpy().tobytes()) for x in valid.data}
    seen_train = {bytes(x.numpy().tobytes()) for x in train.data}
    assert not seen_valid & seen_train and seen_valid | seen_train == rows
    sub = spread_subset(valid, 5)
    assert torch.equal(sub.data, valid.data[[0, 5, 10, 15, 20]])


def test_precision_auto_picks_bf16_only_where_native(monkeypatch):
    import dgm.train.precision as precision

    monkeypatch.setattr(precision, "native_bf16", lambda device_type="cpu": False)
    assert resolve_precision("auto") == "fp32" and resolve_precision("bf16") == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda device_type="cpu": True)
    assert resolve_precision("auto") == "bf16" and resolve_precision("fp32") == "fp32"


def test_evaluation_every_training_seconds(make_model, make_trainer, tiny_data, monkeypatch):
    """eval_every_s: evaluations on a grid of training seconds (0.3, 0.6, 0.9), plus the final one."""
    scripted = Scripted([1.0])
    monkeypatch.setattr(evaluation, "choose_metric", scripted)
    cb = evaluation.PeriodicEval(tiny_data, 0, 0.3, 50, False)
    tr = make_trainer(make_model(), steps=None, time_budget_s=1.0, callbacks=[cb])
    tr.fit()
    times = [r["train_s"] for r in tr.curve]
    assert len(times) == 4 and times[-1] >= 1.0
    assert all(0.3 * (i + 1) <= t < 0.3 * (i + 1) + 0.25 for i, t in enumerate(times[:3]))
