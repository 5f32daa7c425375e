"""Learning-rate schedules: each shape against its formula, warm-up, per-group base rates, and exact resume
mid-schedule (the lr sequence and the weights of 40 steps equal those of 20 + resume + 20)."""
from __future__ import annotations

import math

import pytest
import torch

from dgm.errors import ConfigError
from dgm.train import TrainConfig, read_checkpoint
from dgm.train.callbacks import Callback
from dgm.train.schedule import TrainClock, decay_progress, lr_factor, parse_duration, schedule_by_time


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 100, "lr": 1e-3, **kw})


@pytest.mark.parametrize("p", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_cosine_linear_constant_match_their_formulas(p):
    c = cfg(lr_schedule="cosine", lr_min=1e-4)
    assert lr_factor(c, p, 10**6) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
    c = cfg(lr_schedule="linear", lr_min=2e-4)
    assert lr_factor(c, p, 10**6) == pytest.approx(1 - 0.8 * p)
    assert lr_factor(cfg(), p, 10**6) == 1.0


def test_decay_start_holds_the_rate_then_decays_over_the_rest():
    c = cfg(lr_schedule="linear", lr_decay_start=0.6)  # lr_min 0: to zero at the end
    assert lr_factor(c, 0.3, 10**6) == 1.0 and lr_factor(c, 0.6, 10**6) == 1.0
    assert lr_factor(c, 0.8, 10**6) == pytest.approx(0.5)
    assert lr_factor(c, 1.0, 10**6) == pytest.approx(0.0)
    c = cfg(lr_schedule="cosine", lr_decay_start=0.5, lr_min=1e-4)
    assert lr_factor(c, 0.75, 10**6) == pytest.approx(0.1 + 0.9 * 0.5)


def test_step_schedule_multiplies_at_each_milestone():
    c = cfg(lr_schedule="step", lr_milestones=(0.3, 0.6), lr_gamma=0.5)
    assert [lr_factor(c, p, 10**6) for p in (0.0, 0.29, 0.3, 0.59, 0.6, 1.0)] == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_warmup_ramps_linearly_then_hands_over():
    c = cfg(lr_schedule="cosine", lr_warmup=4)
    assert [lr_factor(c, 0.0, s) for s in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert lr_factor(c, 0.5, 2) == pytest.approx(0.75 * 0.5)  # warm-up multiplies the schedule's value


@pytest.mark.parametrize("bad", [{"lr_min": 1e-2}, {"lr_decay_start": 1.0}, {"lr_gamma": 0.0},
                                 {"lr_milestones": (0.6, 0.3)}, {"lr_milestones": (1.5,)},
                                 {"schedule_clock": "time"}, {"keep_best": True}])
def test_invalid_schedules_are_config_errors(bad):
    with pytest.raises(ConfigError):
        cfg(**bad)


def test_durations_parse():
    assert [parse_duration(t) for t in ("900", "900s", "15m", "1h30m", "1.5h", "2m30s")] == \
        [900, 900, 900, 5400, 5400, 150]
    for bad in ("", "15x", "m", "0", "-5", "15m junk"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_schedule_clock_follows_the_budget():
    assert not schedule_by_time(cfg())
    assert schedule_by_time(cfg(time_budget_s=10))
    assert not schedule_by_time(cfg(time_budget_s=10, schedule_clock="steps"))


class LrLog(Callback):
    """Records every group's lr as each step ran."""

    def __init__(self):
        self.lrs: list[dict[str, float]] = []

    def on_step_end(self, trainer, logs):
        self.lrs.append({n: o.param_groups[0]["lr"] for n, o in trainer.optimizers.items()})


def test_trainer_applies_the_schedule_per_group_from_each_base_rate(make_model, make_trainer):
    """A GAN's two players follow one shape from their own base rates (lr_d, lr_g)."""
    log = LrLog()
    tr = make_trainer(make_model("dcgan", channels=8, lr_d=4e-4, lr_g=1e-4), name="dcgan", callbacks=[log],
                      steps=10, lr=2e-4, lr_schedule="linear", lr_min=5e-5, lr_warmup=2)
    tr.fit()
    for step, lrs in enumerate(log.lrs):
        f = lr_factor(tr.config, step / 10, step)
        assert lrs["discriminator"] == pytest.approx(4e-4 * f) and lrs["generator"] == pytest.approx(1e-4 * f)
    assert log.lrs[-1]["discriminator"] == pytest.approx(4e-4 * (1 - 0.75 * 0.9))  # lr_min / lr = 0.25


def test_exact_resume_mid_schedule(tmp_path, make_model, make_trainer):
    """40 steps straight == 20 steps, checkpoint, a fresh trainer resumed for 20 more: lrs and weights."""
    settings = dict(lr_schedule="cosine", lr_min=1e-4, lr_warmup=5, batch_size=32, seed=1)
    straight_log = LrLog()
    straight = make_trainer(make_model(), steps=40, callbacks=[straight_log], **settings)
    straight.fit()

    first_log = LrLog()
    first = make_trainer(make_model(), run_dir=tmp_path / "run", steps=40, callbacks=[first_log], **settings)
    first.callbacks.append(StopAt(20))
    first.fit()
    first.save_checkpoint()
    resumed_log = LrLog()
    resumed = make_trainer(make_model(seed=7), steps=40, callbacks=[resumed_log], **settings)
    resumed.load_state(read_checkpoint(tmp_path / "run"))
    resumed.fit()

    assert first_log.lrs + resumed_log.lrs == straight_log.lrs
    assert len(set(round(lr["main"], 12) for lr in straight_log.lrs)) > 30  # the schedule really moved
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


class StopAt(Callback):
    """Ends fit() cleanly at a step, as a run killed and checkpointed there (without changing the schedule)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, logs):
        if trainer.step == self.step:
            trainer.done = lambda: True


def test_time_clock_pauses_and_resumes_from_recorded_seconds(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("dgm.train.schedule.time.perf_counter", lambda: now[0])
    clock = TrainClock(30.0)
    clock.start()
    now[0] += 5
    with clock.paused():
        now[0] += 50  # evaluation: not training time
    now[0] += 2
    assert clock.seconds() == pytest.approx(37.0)
    clock.stop()
    now[0] += 1000  # not running: does not count
    assert clock.seconds() == pytest.approx(37.0)


def test_progress_past_the_end_holds_the_final_lr():
    # a time-clocked run checks its budget after the step, so progress can pass 1 by a step: the lr must stay
    # at its final value, never go below lr_min (or negative)
    cfg = TrainConfig(lr=1e-3, lr_schedule="linear", lr_min=1e-4)
    assert decay_progress(cfg, 1.5) == 1.0 and decay_progress(cfg, -0.5) == 0.0
    assert lr_factor(cfg, 1.2, step=10_000) == pytest.approx(0.1)


def test_train_clock_counts_every_paused_span(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("dgm.train.schedule.time.perf_counter", lambda: now[0])
    clock = TrainClock()
    assert clock.seconds() == 0.0  # a new run has trained no seconds
    clock.start()
    now[0] += 10  # 10 s of training
    for pause in (3.0, 4.0):  # two evaluations: 7 s not charged
        with clock.paused():
            now[0] += pause
    now[0] += 5
    assert clock.seconds() == pytest.approx(15.0)
    clock.stop()
    resumed = TrainClock(clock.seconds())
    assert resumed.seconds() == pytest.approx(15.0)


def test_durations_below_a_second_are_durations():
    assert parse_duration("0.5") == 0.5 and parse_duration("0.5s") == 0.5
    for text in ("0", "0s", "0m"):
        with pytest.raises(ValueError, match="must be > 0"):
            parse_duration(text)


def test_training_phases_restart_the_schedule_and_name_the_phase(make_model, make_trainer):
    """A model trained in phases (a quarter, then three quarters of 8 steps): the linear schedule restarts in
    each, and the manual path's ctx.phase names the current one; shares that do not sum to 1 are refused."""
    model = make_model("rbm", hidden=4, chains=4)
    model.training_phases = lambda: [("first", 0.25), ("second", 0.75)]
    phases = []
    real_step = model.training_step

    def step(batch, ctx):
        phases.append(ctx.phase)
        return real_step(batch, ctx)

    model.training_step = step
    log = LrLog()
    tr = make_trainer(model, name="rbm", callbacks=[log], steps=8, lr=0.1, optimizer="sgd", lr_schedule="linear")
    tr.fit()
    assert phases == ["first"] * 2 + ["second"] * 6
    # progress within the phase: steps 0, 1 of 2; then steps 2..7 at (p - 0.25) / 0.75 with p = step / 8
    want = [1 - s / 2 for s in range(2)] + [1 - (s / 8 - 0.25) / 0.75 for s in range(2, 8)]
    assert [lrs["main"] for lrs in log.lrs] == pytest.approx([0.1 * f for f in want])
    model.training_phases = lambda: [("first", 0.5), ("second", 0.6)]
    with pytest.raises(ConfigError, match="sum to 1"):
        make_trainer(model, name="rbm", steps=8)
