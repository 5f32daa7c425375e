"""Model state beyond weights survives a resume bit-exactly (extra_checkpoint_state), and the manual path's
edges: groups without parameters, the EMA left alone when every step was skipped, unknown group names."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from dgm.data.dataset import DatasetInfo, ImageDataset
from dgm.errors import ConfigError
from dgm.models.base import GenerativeModel, OptimizerGroup
from dgm.train import TrainConfig, Trainer, read_checkpoint


def points(n: int = 256) -> ImageDataset:
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(0)) + torch.tensor([3.0, -1.0])
    return ImageDataset(x, None, DatasetInfo("p", "train", (2,), kind="points"))


@dataclass(frozen=True)
class NoSettings:
    """A config with no fields (checkpoints store the model's config)."""


class CountingMean(GenerativeModel):
    """Fits a mean by gradient steps and keeps non-tensor state: a step counter, a running max and a list."""

    def __init__(self, info):
        super().__init__(NoSettings(), info)
        self.mu = nn.Parameter(torch.zeros(2))
        self.seen, self.largest, self.history = 0, float("-inf"), []

    def loss(self, batch, group="main"):
        self.seen += len(batch.x)
        self.largest = max(self.largest, float(batch.x.max()))
        if batch.step % 7 == 0:
            self.history.append([batch.step, round(float(batch.x.mean()), 6)])
        return {"loss": (batch.x - self.mu).pow(2).sum(1).mean()}

    def sample(self, n, *, labels=None, generator=None, **kw):
        return self.mu.detach().expand(n, 2)

    def extra_checkpoint_state(self):
        return {"seen": self.seen, "largest": self.largest, "history": self.history}

    def load_extra_checkpoint_state(self, state):
        self.seen, self.largest, self.history = state["seen"], state["largest"], [list(h) for h in state["history"]]


def test_extra_model_state_survives_a_resume_exactly(tmp_path):
    cfg = TrainConfig(steps=30, batch_size=32, lr=0.05)
    straight = CountingMean(points().info)
    Trainer(straight, points(), cfg, progress=False).fit()

    first = CountingMean(points().info)
    tr = Trainer(first, points(), TrainConfig(steps=13, batch_size=32, lr=0.05), run_dir=tmp_path / "run",
                 callbacks=[], progress=False)
    tr.fit()
    tr.save_checkpoint()
    resumed = CountingMean(points().info)
    tr2 = Trainer(resumed, points(), cfg, progress=False)
    tr2.load_state(read_checkpoint(tmp_path / "run"))
    assert resumed.seen == 13 * 32 and resumed.history == first.history  # restored before training on
    tr2.fit()
    assert (resumed.seen, resumed.largest, resumed.history) == (straight.seen, straight.largest, straight.history)
    assert torch.equal(resumed.mu, straight.mu)


def test_saved_state_without_a_loader_is_an_error_not_a_silent_loss():
    class Forgetful(GenerativeModel):
        pass

    m = Forgetful(None, points().info)
    m.load_extra_checkpoint_state({})  # nothing saved: nothing to do
    with pytest.raises(NotImplementedError, match="counter"):
        m.load_extra_checkpoint_state({"counter": 3})


class EMCentroid(GenerativeModel):
    """Updates a buffer by hand (no parameters, no optimizer), as an EM or CD model would; NaN on demand."""

    manual_optimization = True

    def __init__(self, info, nan_at=()):
        super().__init__(None, info)
        self.register_buffer("centre", torch.zeros(2))
        self.nan_at = set(nan_at)

    def optimizer_groups(self):
        return {"main": OptimizerGroup([])}

    def training_step(self, batch, ctx):
        loss = (batch.x - self.centre).pow(2).sum(1).mean() * (float("nan") if batch.step in self.nan_at else 1.0)
        ctx.backward(loss)
        if ctx.step("main"):
            self.centre.mul_(0.5).add_(0.5 * batch.x.mean(0))
        return {"loss": loss.detach()}

    def sample(self, n, *, labels=None, generator=None, **kw):
        return self.centre.expand(n, 2)


def test_manual_group_without_parameters_steps_and_keeps_the_guard():
    model = EMCentroid(points().info, nan_at={2})
    tr = Trainer(model, points(), TrainConfig(steps=20, batch_size=32), progress=False)
    assert tr.optimizers == {}
    tr.fit()
    torch.testing.assert_close(model.centre, torch.tensor([3.0, -1.0]), atol=0.3, rtol=0)
    assert tr.nonfinite_total == 1


class ManualMean(GenerativeModel):
    manual_optimization = True

    def __init__(self, info, nan_at=(), group="main"):
        super().__init__(None, info)
        self.mu = nn.Parameter(torch.zeros(2))
        self.nan_at, self.group = set(nan_at), group

    def training_step(self, batch, ctx):
        loss = (batch.x - self.mu).pow(2).sum(1).mean() * (float("nan") if batch.step in self.nan_at else 1.0)
        ctx.backward(loss, self.group)
        ctx.step(self.group)
        return {"loss": loss.detach()}

    def sample(self, n, *, labels=None, generator=None, **kw):
        return self.mu.detach().expand(n, 2)


def test_ema_is_left_alone_when_every_manual_step_was_skipped():
    model = ManualMean(points().info, nan_at={3})
    tr = Trainer(model, points(), TrainConfig(steps=3, batch_size=32, lr=0.05, ema_decay=0.9), progress=False)
    tr.fit()
    before = {k: v.clone() for k, v in tr.ema.state_dict().items()}
    tr.config = TrainConfig(steps=4, batch_size=32, lr=0.05, ema_decay=0.9)
    tr.fit()  # step 3: NaN, skipped
    assert tr.nonfinite_total == 1
    assert all(torch.equal(v, tr.ema.state_dict()[k]) for k, v in before.items())


def test_unknown_manual_group_names_the_known_ones():
    model = ManualMean(points().info, group="generatr")
    tr = Trainer(model, points(), TrainConfig(steps=1, batch_size=32), progress=False)
    with pytest.raises(ConfigError, match="main"):
        tr.fit()
