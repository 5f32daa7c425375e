"""Contract tests over the model registry: every registered model builds from its default config, runs
a loss with gradients on every parameter of each optimizer group, samples in range with seeded
determinism, and survives save -> load with identical samples. A new model gets these for free: it only
declares ``tiny`` config values (small widths) on its class, and in ``contract`` how to exercise them where the
defaults (28x28 images, fast sampling: ``dgm.models.base.CONTRACT_DEFAULTS``) do not suit it."""
import dataclasses

import pytest
import torch

import dgm.data
from dgm.data.dataset import ImageDataset
from dgm.models import Batch, HasELBO, HasLogProb, create, models
from dgm.models.base import contract_settings
from dgm.models.registry import build_config
from dgm.runs import create_model, load_run
from dgm.train import TrainConfig, Trainer


def settings(name):
    return contract_settings(models.get(name).cls)


NAMES = [pytest.param(n, marks=pytest.mark.slow) if settings(n)["slow_sample"] else n for n in models.names()]


def tiny(name, info, **kw):
    """The model's tiny variant; a key that is not a config field fails (test_registration checks each). A prior
    over codes gets the autoencoder of its codes, as `dgm train` gives it."""
    return create_model(name, info, build_config(name, {**models.get(name).cls.tiny, **kw}))


@pytest.fixture(scope="module")
def mnist():
    return dgm.data.load("mnist-10k").subset(slice(0, 64))


def images_for(name, mnist):
    """MNIST images in the model's contract shape (C, H, W): centre-cropped or zero-padded to H x W, the grey
    channel repeated C times."""
    c, h, w = settings(name)["image_shape"]

    def fit(x, size, dim):  # centre crop or zero pad one spatial dim of (N, C, H, W) from 28 to size
        if size <= 28:
            return x.narrow(dim, (28 - size) // 2, size)
        before = (size - 28) // 2
        pad = [0, 0, 0, 0]
        pad[(3 - dim) * 2:(3 - dim) * 2 + 2] = [before, size - 28 - before]
        return torch.nn.functional.pad(x, pad)

    x = fit(fit(mnist.data, h, 2), w, 3).repeat(1, c, 1, 1).contiguous()
    return ImageDataset(x, mnist.labels, dataclasses.replace(mnist.info, shape=(c, h, w)))


@pytest.fixture
def images(request, mnist):
    """The 64 images a test of model ``name`` (its parameter) uses (a prior over codes: their codes under a
    tiny VQ-VAE, the ``tiny_codes`` fixture; a model of points: 64 ring8 points)."""
    name = request.node.callspec.params["name"]
    if settings(name)["data"] == "codes":
        return request.getfixturevalue("tiny_codes")
    if settings(name)["data"] == "points":
        return dgm.data.load("ring8").subset(slice(0, 64))
    return images_for(name, mnist)


def sample_shape(model, data):
    """What ``model.sample`` returns per sample: the data's shape, or for a prior over codes its decoder's."""
    return tuple(model.autoencoder.info.shape) if data.info.kind == "codes" else tuple(data.info.shape)


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
        missing = [i for i, p in enumerate(spec.params) if p.grad is None and id(p) not in growth_only(model)]
        assert not missing, f"group {group}: {len(missing)} parameters get no gradient"


def growth_only(model) -> set[int]:
    """Parameters a ProGAN-style network uses only at other growth levels (the toRGB / fromRGB of lower levels,
    the blocks above the current one): legitimately without gradient at a given step."""
    from dgm.models.gan.progan_nets import ProGANGenerator, ProGANTrunk

    nets = [m for m in model.modules() if isinstance(m, (ProGANGenerator, ProGANTrunk)) and getattr(m, "growing", True)]
    return {id(p) for net in nets for part in ("to_rgb", "from_rgb", "blocks") if hasattr(net, part)
            for p in getattr(net, part).parameters()}


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
    assert a.shape == (5, *sample_shape(model, images)) and torch.equal(a, b)
    if images.info.kind != "points":  # points are unbounded
        assert a.min() >= 0 and a.max() <= 1
    with torch.no_grad():
        if isinstance(model, HasELBO):
            k = 3 if model.importance_weighted else 1  # a diffusion's bound has no k-sample form
            assert model.elbo(batch.x[:4], k=k).shape == (4,)
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


def test_one_batch_overfit(mnist):
    torch.manual_seed(0)
    model = create("ae", mnist.info, hidden=(64,), latent_dim=8, likelihood="gaussian")
    data = mnist.subset(slice(0, 16))
    tr = Trainer(model, data, TrainConfig(steps=300, batch_size=16, lr=3e-3), progress=False)
    first = model.loss(Batch(model.prepare(data.data)))["loss"].item()
    tr.fit()
    last = model.loss(Batch(model.prepare(data.data)))["loss"].item()
    assert last < first - 0.5 * abs(first)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (1, 28, 28)])
def test_contract_images_take_the_declared_shape(shape, mnist, monkeypatch):
    monkeypatch.setattr(models.get("vae").cls, "contract", {"image_shape": shape})
    data = images_for("vae", mnist)
    assert data.data.shape == (64, *shape) and data.info.shape == shape and data.data.dtype == torch.uint8
    c, h, w = shape
    if h <= 28:  # a centre crop of the digits
        top, left = (28 - h) // 2, (28 - w) // 2
        assert torch.equal(data.data[:, :1], mnist.data[:, :, top:top + h, left:left + w])
    else:  # zero padding around them
        assert data.data.sum() == mnist.data.sum() * shape[0] and data.data[..., :2, :].sum() == 0
