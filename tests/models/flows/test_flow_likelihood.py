"""Flow models: the bits/dim accounting (dequantisation and preprocessing Jacobians) on flows whose density
is known in closed form, sampling with temperature, and ActNorm surviving a checkpoint round trip."""
import math

import pytest
import torch
from torch.distributions import Normal

import dgm.data
from dgm.data.dataset import DatasetInfo, ImageDataset
from dgm.metrics import negative_log_likelihood
from dgm.models import create
from dgm.models.flows import ActNorm, Affine, Chain, FlowConfig, FlowModel

INFO = DatasetInfo("tiny", "test", (1, 4, 6))


class ClosedForm(FlowModel):
    """A flow with a hand-picked bijector (given through the class attribute ``bijector``)."""

    Config = FlowConfig
    bijector = Chain([])

    def build_flow(self, config, shape):
        return type(self).bijector


def uint8_images(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(torch.randint(0, 256, (n, *INFO.shape), generator=g, dtype=torch.uint8), None, INFO)


def test_logit_of_a_logistic_is_uniform_so_exactly_eight_bits_per_dim():
    """z = logit(x) with a standard logistic base is x ~ U(0, 1): every 8-bit image has P = 256^-D."""
    model = ClosedForm(FlowConfig(preprocess="logit", alpha=0.0, base="logistic"), INFO)
    record = negative_log_likelihood(model, uint8_images(), batch_size=16)
    assert record["bits_per_dim"] == pytest.approx(8.0, abs=1e-4)
    assert record["nll_nats"] == pytest.approx(24 * math.log(256), abs=1e-3)
    assert "dequantisation" in record["likelihood_note"] and record["input_transform"] == "dequantized"


def test_gaussian_flow_matches_the_closed_form_density():
    """z = (x - mu) / sigma with a normal base: log p(x) = log N(x; mu, sigma), minus D ln 256."""
    mu, sigma = 0.4, 0.2
    ClosedForm.bijector = Affine(1 / sigma, -mu / sigma)
    try:
        model = ClosedForm(FlowConfig(preprocess="none", base="normal"), INFO)
        x = torch.rand(7, *INFO.shape)
        expected = Normal(mu, sigma).log_prob(x).flatten(1).sum(1) - 24 * math.log(256)
        assert torch.allclose(model.log_prob(x), expected, atol=1e-4)
        z = model.sample(1000, generator=torch.Generator().manual_seed(0), temperature=0.5)
        assert abs(z.mean().item() - mu) < 0.01 and abs(z.std().item() - 0.5 * sigma) < 0.01
    finally:
        ClosedForm.bijector = Chain([])


@pytest.mark.parametrize("name", ["nice", "realnvp", "glow"])
def test_flow_models_invert_and_sample_with_temperature(name):
    torch.manual_seed(0)
    images = dgm.data.load("mnist-10k").subset(slice(0, 16))
    from dgm.models import models

    model = create(name, images.info, **models.get(name).cls.tiny)
    x = model.prepare(images.data, torch.Generator().manual_seed(0))
    model.loss(dgm.models.Batch(x))  # data-dependent initialisation in training mode
    model.eval()
    with torch.no_grad():
        z, _ = model.transform(x)
        assert z.shape == (16, *model.latent_shape)
        back = model.preprocess.inverse(model.flow.inverse(z))
        assert (back - x).abs().max().item() < 1e-4
        cold = model.sample(8, generator=torch.Generator().manual_seed(1), temperature=0.7)
        again = model.sample(8, generator=torch.Generator().manual_seed(1), temperature=0.7)
        warm = model.sample(8, generator=torch.Generator().manual_seed(1), temperature=1.0)
    assert torch.equal(cold, again) and not torch.equal(cold, warm)
    assert cold.shape == (8, 1, 28, 28) and 0 <= cold.min() and cold.max() <= 1


def test_glow_actnorm_is_not_reinitialised_after_loading_a_checkpoint(tmp_path):
    from dgm.runs import load_run
    from dgm.train import TrainConfig, Trainer

    torch.manual_seed(0)
    images = dgm.data.load("mnist-10k").subset(slice(0, 32))
    model = create("glow", images.info, channels=8, depth=1, levels=2)
    Trainer(model, images, TrainConfig(steps=2, batch_size=16), run_dir=tmp_path, model_name="glow",
            progress=False).fit()
    loaded, _ = load_run(tmp_path)
    norms = [m for m in loaded.modules() if isinstance(m, ActNorm)]
    assert norms and all(bool(m.initialized) for m in norms)
    loaded.train()  # a training-mode forward on new data must keep the trained values
    x = loaded.prepare(images.data[16:], torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = [m.log_scale.clone() for m in norms]
        loaded.log_prob(x)
    assert all(torch.equal(b, m.log_scale) for b, m in zip(before, norms))
