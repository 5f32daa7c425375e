"""The trainer's manual path: a model that optimises by hand through ctx keeps the NaN guard."""
import torch
from torch import nn

from dgm.data.dataset import DatasetInfo, ImageDataset
from dgm.models.base import GenerativeModel
from dgm.train import TrainConfig, Trainer


class TwoStepMean(GenerativeModel):
    """Fits a mean by two manual gradient steps per batch; returns NaN on demand."""

    manual_optimization = True

    def __init__(self, info, nan_at=()):
        super().__init__(None, info)
        self.mu = nn.Parameter(torch.zeros(2))
        self.nan_at, self.calls = set(nan_at), 0

    def training_step(self, batch, ctx):
        for _ in range(2):
            loss = (batch.x - self.mu).pow(2).sum(1).mean()
            if batch.step in self.nan_at:
                loss = loss * float("nan")
            ctx.backward(loss)
            ctx.step("main")
            self.calls += 1
        return {"loss": loss.detach()}

    def sample(self, n, *, labels=None, generator=None, **kw):
        return self.mu.detach().expand(n, 2)


def points():
    x = torch.randn(256, 2) + torch.tensor([3.0, -1.0])
    return ImageDataset(x, None, DatasetInfo("p", "train", (2,), kind="points"))


def test_manual_model_trains():
    model = TwoStepMean(points().info)
    Trainer(model, points(), TrainConfig(steps=100, batch_size=32, lr=0.05), progress=False).fit()
    assert model.calls == 200
    torch.testing.assert_close(model.mu.detach(), torch.tensor([3.0, -1.0]), atol=0.3, rtol=0)


def test_manual_nan_is_skipped_and_counted():
    model = TwoStepMean(points().info, nan_at={3})
    tr = Trainer(model, points(), TrainConfig(steps=6, batch_size=32, lr=0.05), progress=False)
    tr.fit()
    assert tr.nonfinite_total == 2 and torch.isfinite(model.mu).all()
