"""The NaN guard (RELIABILITY.md case 17) and SIGTERM/SIGINT handling (cases 15, 16)."""
from __future__ import annotations

import logging
import os
import signal
import threading

import pytest
import torch

from dgm.errors import DivergenceError, Interrupted
from dgm.train import checkpoint as ck
from dgm.train import read_checkpoint
from dgm.train.callbacks import Callback
from dgm.train.signals import StopRequest


class Snapshots(Callback):
    """Parameters after every step, keyed by trainer.step (0 = before training)."""

    def __init__(self, model):
        self.params = {0: [p.detach().clone() for p in model.parameters()]}

    def on_step_end(self, trainer, logs):
        self.params[trainer.step] = [p.detach().clone() for p in trainer.model.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def poison_loss(model, steps, what="nan"):
    """Make ``model.loss`` return a non-finite loss (``what="nan"``) or a finite loss whose gradients
    are infinite (``what="inf-grad"``) at the given 0-based steps."""
    real = model.loss

    class InfGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return torch.full_like(g, float("inf"))

    def loss(batch, group="main"):
        out = real(batch, group)
        if batch.step in steps:
            out["loss"] = out["loss"] * float("nan") if what == "nan" else InfGrad.apply(out["loss"])
        return out

    model.loss = loss
    return model


def test_nan_loss_step_is_skipped_and_counted(make_model, make_trainer, caplog):
    model = poison_loss(make_model(), {4})
    snaps = Snapshots(model)
    tr = make_trainer(model, steps=8, callbacks=[snaps])
    with caplog.at_level(logging.WARNING, logger="dgm.train"):
        logs = tr.fit()
    assert tr.step == 8 and tr.nonfinite_total == 1 and tr.nonfinite_consecutive == 0
    assert same(snaps.params[4], snaps.params[5])  # the poisoned step (0-based 4) changed nothing
    for s in (1, 2, 3, 4, 6, 7, 8):  # every other step did
        assert not same(snaps.params[s - 1], snaps.params[s]), s
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any("step 4" in r.getMessage() and "non-finite loss" in r.getMessage() for r in caplog.records)
    assert all(v == v for v in logs.values())  # the last (good) step logs finite values


def test_nan_never_filtered_from_logs(make_model, make_trainer):
    model = poison_loss(make_model(), {2})
    tr = make_trainer(model, steps=3)
    seen = []

    class Grab(Callback):
        def on_step_end(self, trainer, logs):
            seen.append({k: float(v) for k, v in logs.items()})

    tr.callbacks.append(Grab())
    tr.fit()
    assert seen[2]["loss"] != seen[2]["loss"]  # NaN logged as NaN
    assert seen[2]["recon"] == seen[2]["recon"]  # the finite components as they are


def test_isolated_nans_do_not_abort(make_model, make_trainer):
    model = poison_loss(make_model(), set(range(0, 20, 2)))  # every other step
    tr = make_trainer(model, steps=20, max_nonfinite=2)
    tr.fit()
    assert tr.step == 20 and tr.nonfinite_total == 10


def test_consecutive_nans_abort_with_exit_5_and_keep_checkpoint(tmp_path, make_model, make_trainer, tree_hashes):
    run = tmp_path / "run"
    hashes = {}

    class SaveAt3(Callback):
        def on_step_end(self, trainer, logs):
            if trainer.step == 3:
                trainer.save_checkpoint()
                hashes.update(tree_hashes(run / "checkpoints"))

    model = poison_loss(make_model(), set(range(3, 100)))
    snaps = Snapshots(model)
    tr = make_trainer(model, run_dir=run, steps=50, max_nonfinite=4, callbacks=[SaveAt3(), snaps])
    with pytest.raises(DivergenceError) as info:
        tr.fit()
    assert info.value.exit_code == 5
    assert "4 steps in a row" in str(info.value) and "non-finite loss" in str(info.value)
    assert tr.nonfinite_total == 4 and tr.step == 6  # 0-based steps 3, 4, 5 skipped, the 4th (6) aborts
    assert same(snaps.params[3], snaps.params[6])
    assert hashes and tree_hashes(run / "checkpoints") == hashes
    assert read_checkpoint(run).step == 3
    assert all(torch.isfinite(v).all() for v in read_checkpoint(run).model.values())


def test_inf_gradients_with_finite_loss_are_skipped(make_model, make_trainer):
    model = poison_loss(make_model(), {2, 5}, what="inf-grad")
    snaps = Snapshots(model)
    tr = make_trainer(model, steps=7, max_nonfinite=2, callbacks=[snaps])
    tr.fit()
    assert tr.nonfinite_total == 2
    assert same(snaps.params[2], snaps.params[3]) and same(snaps.params[5], snaps.params[6])
    assert not same(snaps.params[3], snaps.params[4])
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_persistent_inf_gradients_abort(make_model, make_trainer):
    """A finite loss with non-finite gradients every step must also reach the abort (exit 5)."""
    model = poison_loss(make_model(), set(range(1, 100)), what="inf-grad")
    tr = make_trainer(model, steps=50, max_nonfinite=3)
    with pytest.raises(DivergenceError, match="non-finite gradients") as info:
        tr.fit()
    assert info.value.exit_code == 5 and tr.nonfinite_total == 3 and tr.step == 3


# --- signals -------------------------------------------------------------------------------------

def handlers():
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


@pytest.fixture
def own_handlers():
    """Install recognisable handlers for the test (so a leaked signal cannot kill pytest), restore after."""
    calls = []

    def mine(signum, frame):
        calls.append(signum)

    old = handlers()
    signal.signal(signal.SIGINT, mine)
    signal.signal(signal.SIGTERM, mine)
    yield mine, calls
    signal.signal(signal.SIGINT, old[0])
    signal.signal(signal.SIGTERM, old[1])


class KillAt(Callback):
    def __init__(self, step, signum, times=1):
        self.step, self.signum, self.times = step, signum, times

    def on_step_end(self, trainer, logs):
        if trainer.step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_commits_checkpoint_and_restores_handlers(tmp_path, make_model, make_trainer, own_handlers,
                                                         signum, code):
    mine, calls = own_handlers
    run = tmp_path / "run"
    tr = make_trainer(make_model(), run_dir=run, steps=10_000, checkpoint_every=0, callbacks=[KillAt(3, signum)])
    with pytest.raises(Interrupted) as info:
        tr.fit()
    assert info.value.exit_code == code and f"signal {int(signum)}" in str(info.value)
    assert handlers() == (mine, mine) and calls == []  # restored, and the signal was not passed on
    ckpt = read_checkpoint(run)
    assert ckpt.step == 3 and ckpt.train_state["step"] == 3
    assert str(ckpt.path) in str(info.value)


def test_handlers_restored_after_fit_returns_or_raises(make_model, make_trainer, own_handlers):
    mine, _ = own_handlers
    make_trainer(make_model(), steps=2).fit()
    assert handlers() == (mine, mine)
    tr = make_trainer(poison_loss(make_model(), set(range(100))), steps=10, max_nonfinite=2)
    with pytest.raises(DivergenceError):
        tr.fit()
    assert handlers() == (mine, mine)

    class Crash(Callback):
        def on_step_end(self, trainer, logs):
            raise RuntimeError("callback crashed")

    with pytest.raises(RuntimeError):
        make_trainer(make_model(), steps=5, callbacks=[Crash()]).fit()
    assert handlers() == (mine, mine)
    # with the defaults in place (as in a fresh CLI process) too
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    make_trainer(make_model(), steps=1).fit()
    assert handlers() == (signal.default_int_handler, signal.SIG_DFL)


def test_second_sigint_stops_at_once(own_handlers):
    mine, _ = own_handlers
    with pytest.raises(KeyboardInterrupt):
        with StopRequest() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.signum == signal.SIGINT and stop.exit_code == 130  # first: only a flag
            os.kill(os.getpid(), signal.SIGINT)  # second: immediate
            pytest.fail("the second SIGINT did not interrupt")
    assert handlers() == (mine, mine)
    with StopRequest() as stop:  # SIGTERM twice is still a graceful stop
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop.exit_code == 143


def test_stop_request_off_the_main_thread_installs_nothing(own_handlers):
    mine, _ = own_handlers
    errors = []

    def work():
        try:
            with StopRequest() as stop:
                assert stop.signum is None
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert errors == [] and handlers() == (mine, mine)


SIGNAL_SCRIPT = """
    import sys
    from pathlib import Path
    import torch
    import dgm.data, dgm.models as models
    from dgm.errors import Interrupted
    from dgm.train import TrainConfig, Trainer, seed_everything
    from dgm.train.callbacks import Callback

    run_dir, threads = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    ds = dgm.data.load("mnist-10k").subset(slice(0, 250))

    class Announce(Callback):
        def on_step_end(self, trainer, logs):
            if trainer.step == 3:
                print("training", flush=True)

    seed_everything(0)
    model = models.create("vae", ds.info, hidden=(16,), latent_dim=4)
    tr = Trainer(model, ds, TrainConfig(steps=10**7, batch_size=32, checkpoint_every=0), run_dir=run_dir,
                 model_name="vae", callbacks=[Announce()], progress=False)
    try:
        tr.fit()
    except Interrupted as e:
        print("interrupted", tr.step, flush=True)
        sys.exit(e.exit_code)
    sys.exit(0)
"""


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_to_training_process(tmp_path, run_script, make_model, make_trainer, signum, code):
    run = tmp_path / "run"
    script = run_script(SIGNAL_SCRIPT, run, torch.get_num_threads())
    script.wait_for("training")
    script.proc.send_signal(signum)
    assert script.wait() == code, script.stderr()
    stopped = int(script.wait_for("interrupted").split()[1])
    ckdir = run / "checkpoints"
    assert [p.name for p in ckdir.iterdir() if ".tmp-" in p.name] == []
    ckpt = read_checkpoint(run)
    assert ckpt.step == stopped >= 3 and ck.committed(ckdir) == [ckpt.path]
    # the committed state is the state of an uninterrupted run after the same number of steps
    straight = make_trainer(make_model(), steps=ckpt.step, batch_size=32)
    straight.fit()
    assert all(torch.equal(v, ckpt.model[k]) for k, v in straight.model.state_dict().items())
