"""Latents and sampling: the truncation trick, label-conditional sampling, InfoGAN's codes, data adaptivity."""
import pytest
import torch

from dgm.data.dataset import DatasetInfo, ImageDataset
from dgm.errors import ConfigError
from dgm.models import Batch, create
from dgm.models.gan import draw_latents, truncated_normal


@pytest.mark.parametrize("t", [0.05, 0.5, 2.0])
def test_truncated_latents_stay_inside_the_threshold(t):
    z = truncated_normal((20_000, 8), t, torch.Generator().manual_seed(0))
    assert z.abs().max() < t
    assert z.abs().max() > 0.95 * t  # the whole interval is used, not a narrower one
    # the standard normal restricted to (-t, t): E z^2 = 1 - 2 t phi(t) / (2 Phi(t) - 1)
    phi = torch.exp(torch.tensor(-t * t / 2)) / (2 * torch.pi) ** 0.5
    mass = torch.erf(torch.tensor(t / 2 ** 0.5))
    expected = 1 - 2 * t * phi / mass
    assert abs(float(z.pow(2).mean()) - float(expected)) < 0.02 * float(expected) + 1e-4


def test_truncation_with_temperature_and_in_sample(mnist64, tiny_gan):
    lat = draw_latents(5000, 4, truncation=0.7, temperature=2.0, generator=torch.Generator().manual_seed(0))
    assert lat.z.abs().max() < 0.7
    model = tiny_gan("dcgan", mnist64.info).eval()
    a = model.sample(6, generator=torch.Generator().manual_seed(1), truncation=0.5)
    b = model.sample(6, generator=torch.Generator().manual_seed(1), truncation=0.5)
    c = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == (6, 1, 28, 28)
    _, lat = model.sample_with_latents(100, generator=torch.Generator().manual_seed(2), truncation=0.3)
    assert lat.z.abs().max() < 0.3


def test_unknown_sample_options_are_errors(mnist64, tiny_gan):
    from dgm.errors import ConfigError
    from dgm.runs import sample_images

    model = tiny_gan("dcgan", mnist64.info).eval()
    with pytest.raises(TypeError):
        model.sample(3, generator=torch.Generator().manual_seed(0), bogus=1)
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        sample_images(model, 3, temprature=0.5)
    x = sample_images(model, 3, temperature=0.5, truncation=1.0)
    assert x.shape == (3, 1, 28, 28) and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize("name", ["cgan", "acgan", "biggan-small"])
def test_conditional_sampling_uses_the_labels(name, mnist64, tiny_gan):
    model = tiny_gan(name, mnist64.info).eval()
    threes, fives = torch.full((4,), 3), torch.full((4,), 5)
    a, lat = model.sample_with_latents(4, labels=threes, generator=torch.Generator().manual_seed(0))
    b = model.sample(4, labels=fives, generator=torch.Generator().manual_seed(0))
    assert torch.equal(lat.labels, threes)
    assert not torch.allclose(a, b)  # same z, other label: another image
    # without labels they are drawn from the generator: reproducible and not all the same
    _, lat1 = model.sample_with_latents(50, generator=torch.Generator().manual_seed(9))
    _, lat2 = model.sample_with_latents(50, generator=torch.Generator().manual_seed(9))
    assert torch.equal(lat1.labels, lat2.labels) and lat1.labels.unique().numel() > 1
    with pytest.raises(ConfigError):
        model.sample(2, labels=torch.tensor([3, 10]))


def test_unconditional_models_ignore_labels(mnist64, tiny_gan):
    model = tiny_gan("dcgan", mnist64.info).eval()
    a = model.sample(4, labels=torch.full((4,), 3), generator=torch.Generator().manual_seed(0))
    b = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_infogan_codes(mnist64, tiny_gan):
    model = tiny_gan("infogan", mnist64.info)
    cfg = model.config
    assert (cfg.codes.categorical, cfg.codes.continuous) == (10, 2)
    code = torch.arange(6) % 10
    x, lat = model.eval().sample_with_latents(6, code=code, generator=torch.Generator().manual_seed(0))
    assert x.shape == (6, 1, 28, 28) and torch.equal(lat.code, code)
    assert lat.z.shape == (6, cfg.latent_dim) and lat.continuous.shape == (6, 2)
    assert lat.continuous.abs().max() <= 1
    assert lat.generator_input(10).shape == (6, cfg.latent_dim + 12)
    out = model.critic(model.prepare(mnist64.data[:6]))
    assert out.q.shape == (6, 12) and out.aux is None
    # Q shares D's trunk: its only own parameters are the head's
    q_params = {id(p) for p in model.critic.q.parameters()}
    trunk_params = {id(p) for p in model.critic.trunk.parameters()}
    assert q_params and not q_params & trunk_params
    model.train()
    d_out = model.loss(Batch(model.prepare(mnist64.data[:8]), None, step=0), "discriminator")
    g_out = model.loss(Batch(model.prepare(mnist64.data[:8]), None, step=0), "generator")
    assert {"info_cat", "info_cont"} <= set(d_out) and {"info_cat", "info_cont"} <= set(g_out)


def test_architecture_adapts_to_points(ring, tiny_gan):
    for name in ("dcgan", "sagan", "gan"):  # conv presets fall back to MLPs on 2-D points
        model = tiny_gan(name, ring.info).eval()
        assert model.input_transform == "unit"
        assert model.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 2)


@pytest.mark.parametrize("name", ["dcgan", "sagan", "biggan-small", "gan"])
def test_architecture_adapts_to_32x32_colour_images(name, tiny_gan):
    data = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    ds = ImageDataset(data, torch.arange(16) % 4, DatasetInfo("rgb32", "train", (3, 32, 32), num_classes=4))
    model = tiny_gan(name, ds.info)
    out = model.loss(Batch(model.prepare(ds.data[:8]), ds.labels[:8]), "discriminator")
    assert torch.isfinite(out["loss"])
    assert model.eval().sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 3, 32, 32)


def test_conditional_model_needs_labels():
    info = DatasetInfo("unlabelled", "train", (1, 28, 28), num_classes=0)
    with pytest.raises(ConfigError, match="labels"):
        create("cgan", info)
    with pytest.raises(ConfigError):
        create("dcgan", info, g_conditioning="concat")  # one-sided conditioning is refused


def test_binary_data_is_mapped_to_plus_minus_one():
    data = torch.randint(0, 2, (8, 1, 28, 28), dtype=torch.uint8)
    ds = ImageDataset(data, None, DatasetInfo("bin", "train", (1, 28, 28), kind="binary"))
    model = create("dcgan", ds.info, channels=8)
    x = model.prepare(ds.data)
    assert set(x.unique().tolist()) <= {-1.0, 1.0}
