"""ProGAN's progressive growing: the growth schedule, fade-in at alpha 0 and 1 equal to the lower- and
higher-resolution networks, the drift term, and growth driven by the images seen in training."""
import pytest
import torch

from dgm.models import Batch
from dgm.models.gan.progan_nets import growth


def test_growth_schedule():
    # phase 0: base level; then fade-in / stabilise per level; 2 levels above the base (28x28: 7 -> 14 -> 28)
    assert growth(0, 100, 2) == (0, 1.0) and growth(99, 100, 2) == (0, 1.0)
    assert growth(100, 100, 2) == (1, 0.0) and growth(125, 100, 2) == (1, 0.25)
    assert growth(200, 100, 2) == (1, 1.0) and growth(350, 100, 2) == (2, 0.5)
    assert growth(400, 100, 2) == (2, 1.0) and growth(10 ** 9, 100, 2) == (2, 1.0)
    assert growth(0, 0, 2) == (2, 1.0)  # no growing


def outputs(model, z, x, level, alpha):
    for net in (model.generator, model.critic.trunk):
        net.set_growth(level, alpha)
    with torch.no_grad():
        return model.generator(z), model.critic.trunk(x)


@pytest.mark.parametrize("level", [1, 2])
def test_fade_in_ends_are_the_lower_and_higher_resolution_networks(mnist64, tiny_gan, level):
    model = tiny_gan("progan", mnist64.info).eval()
    z, x = torch.randn(4, 8), model.prepare(mnist64.data[:4])
    g0, d0 = outputs(model, z, x, level, 0.0)
    g_low, d_low = outputs(model, z, x, level - 1, 1.0)
    torch.testing.assert_close(g0, g_low, rtol=0, atol=0)  # nearest upsampling composes exactly
    torch.testing.assert_close(d0, d_low, rtol=1e-5, atol=1e-6)  # average pooling, up to rounding
    assert g0.shape == (4, 1, 28, 28)
    g1, d1 = outputs(model, z, x, level, 1.0)
    with torch.no_grad():  # alpha 1: the previous level's toRGB / fromRGB play no part
        model.generator.to_rgb[level - 1].weight.add_(1.0)
        model.critic.trunk.from_rgb[level - 1].weight.add_(1.0)
    g1b, d1b = outputs(model, z, x, level, 1.0)
    torch.testing.assert_close(g1, g1b, rtol=0, atol=0)
    torch.testing.assert_close(d1, d1b, rtol=0, atol=0)
    g_half, _ = outputs(model, z, x, level, 0.5)  # halfway: the mean of the two ends
    with torch.no_grad():
        model.generator.to_rgb[level - 1].weight.sub_(1.0)
    g0, _ = outputs(model, z, x, level, 0.0)
    g_half, _ = outputs(model, z, x, level, 0.5)
    torch.testing.assert_close(g_half, (g0 + g1) / 2, rtol=1e-5, atol=1e-6)


def test_training_grows_by_images_seen_and_sampling_keeps_the_last_growth(mnist64, tiny_gan):
    model = tiny_gan("progan", mnist64.info, **{"schedule.grow_images": 40}).train()
    x = model.prepare(mnist64.data[:16])
    model.loss(Batch(x, None, step=3), "discriminator")  # 48 images seen: level 1, alpha 0.2
    assert model.generator.state() == (1, pytest.approx(0.2)) == model.critic.trunk.state()
    model.eval()
    model.loss(Batch(x, None, step=9), "discriminator")  # evaluation does not move the growth
    assert model.generator.state() == (1, pytest.approx(0.2))
    assert model.sample(2).shape == (2, 1, 28, 28)
    model.train()
    model.loss(Batch(x, None, step=2), "discriminator")  # 32 images: level 0
    assert model.generator.state() == (0, 1.0)
    # one of two data-parallel shards of global batches of 32: 64 images seen, level 1 at alpha 0.6
    model.loss(Batch(x, None, step=2, shards=2), "discriminator")
    assert model.generator.state() == (1, pytest.approx(0.6)) == model.critic.trunk.state()


def test_progan_preset_has_gp_and_drift(mnist64, tiny_gan):
    model = tiny_gan("progan", mnist64.info).train()
    out = model.loss(Batch(model.prepare(mnist64.data[:8]), None, step=0), "discriminator")
    torch.testing.assert_close(out["loss"], out["adv"] + out["gp"] + out["drift"])
    assert float(out["drift"]) > 0
