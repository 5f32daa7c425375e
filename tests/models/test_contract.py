"""Contract tests over the model registry: every registered model builds from its default config, runs
a training step with gradients on every parameter, samples in range with seeded determinism, and
survives save -> load with identical samples. A new model gets these for free."""
import pytest
import torch

import dgm.data
from dgm.models import Batch, HasELBO, create, models
from dgm.runs import load_run
from dgm.train import TrainConfig, Trainer

TINY = {"hidden": (16,), "latent_dim": 3, "conv_channels": (4, 8)}


def tiny(name, info, **kw):
    fields = type(create(name, info)).Config.__dataclass_fields__
    return create(name, info, **{k: v for k, v in {**TINY, **kw}.items() if k in fields})


@pytest.fixture(scope="module")
def images():
    return dgm.data.load("mnist-10k").subset(slice(0, 64))


@pytest.mark.parametrize("name", models.names())
def test_default_config_builds(name, images):
    assert create(name, images.info) is not None


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_step_gradients_and_samples(name, arch, images):
    torch.manual_seed(0)
    model = tiny(name, images.info, architecture=arch)
    x = model.prepare(images.data[:8], torch.Generator().manual_seed(0))
    out = model.loss(Batch(x, images.labels[:8], step=1))
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    model.eval()
    a = model.sample(5, generator=torch.Generator().manual_seed(3))
    b = model.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 1, 28, 28) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    if isinstance(model, HasELBO):
        with torch.no_grad():
            assert model.elbo(x, k=3).shape == (8,)


@pytest.mark.parametrize("name", ["vae", "ae"])
def test_points_data(name):
    ring = dgm.data.load("ring8").subset(slice(0, 256))
    model = tiny(name, ring.info)
    out = model.loss(Batch(model.prepare(ring.data[:32]), None))
    assert torch.isfinite(out["loss"])
    assert model.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 2)


@pytest.mark.parametrize("name", models.names())
def test_save_load_reproduces_samples(name, images, tmp_path):
    torch.manual_seed(0)
    model = tiny(name, images.info)
    Trainer(model, images, TrainConfig(steps=3, batch_size=16), run_dir=tmp_path, model_name=name,
            progress=False).fit()
    loaded, _ = load_run(tmp_path)
    model.eval()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    with torch.no_grad():
        assert torch.equal(model.sample(4, generator=g1), loaded.sample(4, generator=g2))


def test_one_batch_overfit(images):
    torch.manual_seed(0)
    model = create("ae", images.info, hidden=(64,), latent_dim=8, likelihood="gaussian")
    data = images.subset(slice(0, 16))
    tr = Trainer(model, data, TrainConfig(steps=300, batch_size=16, lr=3e-3), progress=False)
    first = model.loss(Batch(model.prepare(data.data)))["loss"].item()
    tr.fit()
    last = model.loss(Batch(model.prepare(data.data)))["loss"].item()
    assert last < first - 0.5 * abs(first)
