"""Classifier guidance: the gradient of log p(y | x_t) against its closed form for a softmax-linear classifier,
the score-form shift in every parameterisation, scale 0 as no guidance, the noise-aware classifier's loss and
its schedule check, and guidance that moves samples towards the requested class."""
import pytest
import torch
import torch.nn.functional as F

from dgm.data.dataset import DatasetInfo
from dgm.errors import ConfigError
from dgm.models import Batch, create
from dgm.models.diffusion import (ClassifierConfig, Diffusion, GuidanceClassifier, NoiseSchedule, classifier_guided,
                                  log_prob_gradient, target, to_x0_eps)
from dgm.models.diffusion.classifier import for_diffusion, noise_levels
from dgm.nn.unet import NoisyClassifier

INFO = DatasetInfo(name="toy", split="train", shape=(1, 6, 6), num_classes=3)


class Linear:
    """logits = W flatten(x) + b t: log p(y | x) has gradient W_y - sum_k p_k W_k."""

    def __init__(self, k: int = 3, d: int = 36):
        g = torch.Generator().manual_seed(1)
        self.W, self.num_labels = torch.randn(k, d, generator=g), k

    def __call__(self, x, t):
        return x.flatten(1) @ self.W.T + 0.01 * t[:, None].float()


def test_log_prob_gradient_is_the_softmax_closed_form():
    c = Linear()
    x, t, y = torch.randn(4, 1, 6, 6), torch.tensor([3, 7, 0, 9]), torch.tensor([0, 2, 1, 2])
    p = F.softmax(c(x, t), 1)
    expected = (c.W[y] - p @ c.W).reshape(x.shape)
    assert torch.allclose(log_prob_gradient(c, x, t, y), expected, atol=1e-5)


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_guidance_shifts_epsilon_by_scale_sigma_gradient_in_every_parameterisation(prediction):
    sched = NoiseSchedule.named("linear", 50)
    c, scale = Linear(), 2.5
    x, t, y = torch.randn(4, 1, 6, 6), torch.tensor([3, 17, 30, 49]), torch.tensor([0, 2, 1, 2])
    eps = torch.randn(4, 1, 6, 6)
    var = torch.randn(4, 1, 6, 6)  # a learned-variance channel passes through untouched
    a = sched.gather(sched.sqrt_alphas_cumprod, t, x)
    s = sched.gather(sched.sqrt_one_minus_alphas_cumprod, t, x)
    out = target(prediction, (x - s * eps) / a, eps, a, s)  # the same network, as each parameterisation says it

    guided = classifier_guided(lambda xx, tt: torch.cat([out, var], 1), c, y, scale, sched, prediction, 1)(x, t)
    _, eps_guided = to_x0_eps(prediction, guided[:, :1], x, a, s)
    expected = eps - scale * s * log_prob_gradient(c, x, t, y)
    assert torch.allclose(eps_guided, expected, atol=1e-4)
    assert torch.equal(guided[:, 1:], var)
    unguided = classifier_guided(lambda xx, tt: torch.cat([out, var], 1), c, y, 0.0, sched, prediction, 1)(x, t)
    assert torch.allclose(unguided, torch.cat([out, var], 1), atol=1e-5)


class Brightness(torch.nn.Module):
    """Two classes: bright (0) and dark (1) images, by the mean pixel."""
    num_labels = 2

    def forward(self, x, t):
        m = 20 * x.flatten(1).mean(1, keepdim=True)
        return torch.cat([m, -m], 1)


def test_classifier_guidance_moves_samples_towards_the_requested_class():
    torch.manual_seed(0)
    model = create("ddpm", INFO, **{**Diffusion.tiny, "steps": 20, "sample_steps": 10}).eval()
    labels = torch.tensor([0] * 8 + [1] * 8)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    plain = model.sample(16, generator=g(), labels=labels)
    guided = model.sample(16, generator=g(), labels=labels, classifier=Brightness(), classifier_scale=3.0)
    assert guided[:8].mean() > plain[:8].mean() + 0.05 and guided[8:].mean() < plain[8:].mean() - 0.05
    zero = model.sample(16, generator=g(), labels=labels, classifier=Brightness(), classifier_scale=0.0)
    assert torch.allclose(zero, plain, atol=1e-5)
    assert model.sample_semantics({"classifier": Brightness(), "classifier_scale": 3.0}) == \
        "draws (ddim, 10 steps, classifier guidance 3)"
    for sampler in ("ddpm", "dpm-solver++"):  # every sampler takes it
        s = model.sample(8, generator=g(), labels=labels[:8], sampler=sampler, classifier=Brightness(),
                         classifier_scale=3.0)
        assert s.mean() > model.sample(8, generator=g(), labels=labels[:8], sampler=sampler).mean() + 0.05
    with pytest.raises(ConfigError, match="classifier_scale"):
        model.sample(2, classifier=Brightness(), classifier_scale=-1.0)
    # without labels, an unconditional model guides towards labels drawn over the classifier's classes
    drawn = torch.Generator().manual_seed(4)
    asked = torch.randint(0, 2, (8,), generator=drawn)
    assert torch.equal(model.sample(8, generator=torch.Generator().manual_seed(4), classifier=Brightness(),
                                    classifier_scale=3.0),
                       model.sample(8, generator=drawn, labels=asked, classifier=Brightness(), classifier_scale=3.0))


def test_the_noisy_classifier_reads_time_and_its_loss_is_cross_entropy_at_q_sample():
    torch.manual_seed(0)
    net = NoisyClassifier(1, 3, channels=8, channel_mult=(1, 2), blocks=1, attention_levels=(1,), heads=2)
    for p in net.parameters():  # the zero-initialised branch ends would hide the time embedding
        if p.dim() > 1 and not p.abs().sum():
            torch.nn.init.normal_(p, std=0.5)
    x = torch.randn(2, 1, 6, 6)
    assert net(x, torch.tensor([1, 1])).shape == (2, 3)
    assert not torch.allclose(net(x, torch.tensor([1, 1])), net(x, torch.tensor([40, 40])))
    model = GuidanceClassifier(ClassifierConfig(steps=50, channels=8, channel_mult=(1, 2), attention_levels=(1,),
                                                heads=2), INFO)
    x0, y = torch.rand(5, 1, 6, 6) * 2 - 1, torch.tensor([0, 1, 2, 0, 1])
    torch.manual_seed(5)
    out = model.loss(Batch(x0, y))
    torch.manual_seed(5)
    t = torch.randint(0, 50, (5,))
    logits = model(model.schedule.q_sample(x0, t, torch.randn_like(x0)), t)
    assert torch.allclose(out["loss"], F.cross_entropy(logits, y))
    with pytest.raises(ConfigError, match="does not sample"):
        model.sample(2)


def test_the_classifier_takes_its_diffusions_schedule():
    diffusion = create("improved-ddpm", INFO, **{**Diffusion.tiny, "steps": 30}).config
    cfg = for_diffusion(diffusion, {"channels": 16})
    assert (cfg.schedule, cfg.steps, cfg.channels) == ("cosine", 30, 16)
    with pytest.raises(ConfigError, match="schedule"):
        for_diffusion(diffusion, {"schedule": "linear"})
    assert noise_levels(1000) == [0, 249, 499, 749]
