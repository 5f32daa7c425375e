"""Contract tests over the model registry: every registered model builds from its default config, runs
a loss with gradients on every parameter of each optimizer group, samples in range with seeded
determinism, and survives save -> load with identical samples. A new model gets these for free: it only
declares ``tiny`` config values (small widths) on its class."""
import pytest
import torch

import dgm.data
from dgm.models import Batch, HasELBO, HasLogProb, create, models
from dgm.runs import load_run
from dgm.train import TrainConfig, Trainer


# autoregressive models sample pixel by pixel: their 28x28 sampling contracts run with `-m slow`
NAMES = [pytest.param(n, marks=pytest.mark.slow) if "pixelcnn" in n else n for n in models.names()]


def tiny(name, info, **kw):
    """The model's tiny variant; a key that is not a config field fails (test_registration checks each)."""
    return create(name, info, **{**models.get(name).cls.tiny, **kw})


@pytest.fixture(scope="module")
def images():
    return dgm.data.load("mnist-10k").subset(slice(0, 64))


def batch_for(model, data, n=8):
    return Batch(model.prepare(data.data[:n], torch.Generator().manual_seed(0)), data.labels[:n], step=1)


@pytest.mark.parametrize("name", models.names())
def test_default_config_builds(name, images):
    assert create(name, images.info) is not None


def group_gradients(model, batch):
    """For each optimizer group: its loss is finite and reaches every parameter of the group."""
    if model.manual_optimization:
        return
    for group, spec in model.optimizer_groups().items():
        model.zero_grad(set_to_none=True)
        out = model.loss(batch, group)
        assert torch.isfinite(out["loss"]), f"{group}: non-finite loss"
        out["loss"].backward()
        missing = [i for i, p in enumerate(spec.params) if p.grad is None]
        assert not missing, f"group {group}: {len(missing)} parameters get no gradient"


@pytest.mark.parametrize("name", NAMES)
def test_step_gradients_and_samples(name, images):
    torch.manual_seed(0)
    model = tiny(name, images.info)
    batch = batch_for(model, images)
    group_gradients(model, batch)
    model.eval()
    labels = images.labels[:5]
    a = model.sample(5, generator=torch.Generator().manual_seed(3), labels=labels)
    b = model.sample(5, generator=torch.Generator().manual_seed(3), labels=labels)
    assert a.shape == (5, 1, 28, 28) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    with torch.no_grad():
        if isinstance(model, HasELBO):
            assert model.elbo(batch.x[:4], k=3).shape == (4,)
        if isinstance(model, HasLogProb):
            assert model.log_prob(batch.x[:4]).shape == (4,)


@pytest.mark.parametrize("name", [n for n in models.names() if models.get(n).cls.__name__ in ("VAE", "Autoencoder")])
def test_conv_variant(name, images):
    model = tiny(name, images.info, architecture="conv")
    assert any(isinstance(mod, torch.nn.Conv2d) for mod in model.modules()), "architecture=conv built no conv"
    group_gradients(model, batch_for(model, images))
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 28, 28)


@pytest.mark.parametrize("name", ["vae", "ae"])
def test_points_data(name):
    ring = dgm.data.load("ring8").subset(slice(0, 256))
    model = tiny(name, ring.info)
    out = model.loss(Batch(model.prepare(ring.data[:32]), None))
    assert torch.isfinite(out["loss"])
    assert model.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 2)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_reproduces_samples(name, images, tmp_path):
    torch.manual_seed(0)
    model = tiny(name, images.info)
    Trainer(model, images, TrainConfig(steps=3, batch_size=16), run_dir=tmp_path, model_name=name,
            progress=False).fit()
    loaded, _ = load_run(tmp_path)
    model.eval()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    labels = images.labels[:4]
    with torch.no_grad():
        assert torch.equal(model.sample(4, generator=g1, labels=labels), loaded.sample(4, generator=g2, labels=labels))


def test_one_batch_overfit(images):
    torch.manual_seed(0)
    model = create("ae", images.info, hidden=(64,), latent_dim=8, likelihood="gaussian")
    data = images.subset(slice(0, 16))
    tr = Trainer(model, data, TrainConfig(steps=300, batch_size=16, lr=3e-3), progress=False)
    first = model.loss(Batch(model.prepare(data.data)))["loss"].item()
    tr.fit()
    last = model.loss(Batch(model.prepare(data.data)))["loss"].item()
    assert last < first - 0.5 * abs(first)
