"""Semi-supervised training: exactly the requested labels per class, chosen by a seed and recorded; the model
never sees any other label (main batches come unlabelled); labelled batches are a pure function of the step."""
from __future__ import annotations

import pytest
import torch

import dgm.data
from dgm.data.semi_supervised import LabelledBatches, labelled_subset
from dgm.errors import DataError
from dgm.models import create
from dgm.models.aae_semi import SemiSupervisedAAE
from dgm.models.base import Batch
from dgm.train import Trainer, TrainConfig


@pytest.fixture(scope="module")
def mnist():
    return dgm.data.load("mnist-10k").subset(slice(0, 600))


def test_labelled_subset_has_exactly_per_class_and_depends_on_the_seed(mnist):
    a = labelled_subset(mnist.labels, 10, 10, seed=0)
    assert torch.bincount(mnist.labels[a], minlength=10).tolist() == [10] * 10
    assert torch.equal(a, labelled_subset(mnist.labels, 10, 10, seed=0))
    assert not torch.equal(a, labelled_subset(mnist.labels, 10, 10, seed=1))
    with pytest.raises(DataError, match="fewer than labels_per_class"):
        labelled_subset(mnist.labels, 1000, 10, seed=0)


def test_labelled_batches_are_a_pure_function_of_the_step(mnist):
    lb = LabelledBatches(mnist, 3, seed=5, batch_size=8)
    assert torch.equal(lb.batch(7)[0], LabelledBatches(mnist, 3, seed=5, batch_size=8).batch(7)[0])
    seen = torch.cat([lb.batch(s)[1] for s in range(30 // 8)])  # one pass: distinct examples
    assert len(seen) == 24
    assert lb.record()["labelled"] == 30 and lb.record()["label_seed"] == 5


def test_the_model_sees_only_the_labelled_subsets_labels(mnist, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = create("aae-semi", mnist.info, hidden=(16,), latent_dim=2, disc_hidden=(8,), labels_per_class=2,
                   labelled_batch_size=10, label_seed=3)
    subset = labelled_subset(mnist.labels, 2, 10, seed=3)
    allowed = {bytes(mnist.data[i].numpy().tobytes()) for i in subset.tolist()}
    seen = []
    original = SemiSupervisedAAE.loss

    def spy(self, batch, group="autoencoder"):
        seen.append((batch.y, batch.labelled))
        return original(self, batch, group)

    monkeypatch.setattr(SemiSupervisedAAE, "loss", spy)
    trainer = Trainer(model, mnist, TrainConfig(steps=4, batch_size=50), run_dir=tmp_path, model_name="aae-semi",
                      progress=False)
    trainer.fit()
    assert seen and all(y is None for y, _ in seen)  # main batches never carry labels
    # the labels it learnt from: those of the subset chosen by the seed, step by step
    assert torch.equal(trainer.labelled.index, subset)
    for step, (_, (xl, yl)) in enumerate(seen[3::4]):  # the classifier phase, once per step
        assert torch.equal(yl.cpu(), trainer.labelled.batch(step)[1])
        assert set(yl.tolist()) <= set(mnist.labels[subset].tolist()) and len(xl) == 10
    assert all(bytes(x.numpy().tobytes()) in allowed for x in trainer.labelled.batch(2)[0])
    assert trainer.checkpoint_config()["labelled_subset"]["labelled"] == 20


def test_classification_phase_learns_the_labelled_batch_and_the_critics_tell_prior_from_codes(mnist):
    torch.manual_seed(0)
    model = create("aae-semi", mnist.info, hidden=(32,), latent_dim=2, disc_hidden=(16,), labels_per_class=2)
    g = torch.Generator().manual_seed(0)
    xl = model.prepare(mnist.data[:40], g)
    yl = mnist.labels[:40]
    batch = Batch(xl, None, 0, labelled=(xl, yl))
    groups = model.optimizer_groups()
    opt = torch.optim.Adam(groups["classifier"].params, lr=3e-3)
    for _ in range(60):
        out = model.loss(batch, "classifier")
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert float(model.loss(batch, "classifier")["accuracy"]) > 0.9  # cross-entropy, not its negative
    opt = torch.optim.Adam(groups["discriminator"].params, lr=3e-3)
    for _ in range(100):
        loss = model.loss(batch, "discriminator")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits, style = model.split(xl)
        onehot = torch.nn.functional.one_hot(torch.arange(40) % 10, 10).float()
        assert float(model.class_critic(onehot).mean()) > float(model.class_critic(torch.softmax(logits, -1)).mean())
        assert float(model.style_critic(torch.randn(400, 2)).mean()) > float(model.style_critic(style).mean())
