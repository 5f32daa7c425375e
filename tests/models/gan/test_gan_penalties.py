"""Gradient penalties and constraints against hand computations on linear and quadratic critics."""
import torch

from dgm.models import Batch
from dgm.models.gan.penalties import clip_weights, gradient_penalty, interpolate, zero_centred_penalty


def linear_critic(w, b=0.3):
    return lambda x: x.flatten(1) @ w + b


def test_interpolates_use_one_alpha_per_sample():
    real, fake = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    x_hat, alpha = interpolate(real, fake, torch.Generator().manual_seed(1))
    assert alpha.shape == (6,) and alpha.unique().numel() == 6 and ((alpha >= 0) & (alpha < 1)).all()
    expected = torch.rand(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(alpha, expected)
    for i in range(6):  # every pixel of sample i uses the same alpha_i
        torch.testing.assert_close(x_hat[i], alpha[i] * real[i] + (1 - alpha[i]) * fake[i])


def test_gradient_penalty_on_a_linear_critic():
    """grad_x (w.x + b) = w everywhere, so the penalty is (||w|| - 1)^2 exactly, whatever the interpolates."""
    w = torch.tensor([0.6, -1.2, 2.0, 0.5])
    gp = gradient_penalty(linear_critic(w), torch.randn(8, 4), torch.randn(8, 4))
    torch.testing.assert_close(gp, (w.norm() - 1) ** 2)


def test_gradient_penalty_is_taken_at_the_interpolates():
    """For D(x) = ||x||^2 / 2, grad D(x_hat) = x_hat: the penalty is mean (||x_hat_i|| - 1)^2 over the
    per-sample interpolates (alphas recomputed from the same seed)."""
    real, fake = torch.randn(5, 3), 3 * torch.randn(5, 3)
    gp = gradient_penalty(lambda x: 0.5 * x.pow(2).sum(1), real, fake, torch.Generator().manual_seed(7))
    alpha = torch.rand(5, generator=torch.Generator().manual_seed(7))[:, None]
    x_hat = alpha * real + (1 - alpha) * fake
    torch.testing.assert_close(gp, (x_hat.norm(dim=1) - 1).pow(2).mean())


def test_penalty_is_differentiable_in_the_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # ||w|| = 5: d/dw (||w|| - 1)^2 = 2 (5 - 1) w / 5
    gradient_penalty(linear_critic(w), torch.randn(4, 2), torch.randn(4, 2)).backward()
    torch.testing.assert_close(w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_r1_on_a_linear_critic():
    w = torch.tensor([1.0, -2.0, 0.5])
    torch.testing.assert_close(zero_centred_penalty(linear_critic(w), torch.randn(10, 3)), w.pow(2).sum())


def test_r1_of_a_quadratic_critic():
    x = torch.randn(10, 3)
    torch.testing.assert_close(zero_centred_penalty(lambda v: 0.5 * v.pow(2).sum(1), x), x.pow(2).sum(1).mean())


def test_weight_clipping():
    layer = torch.nn.Linear(5, 5)
    with torch.no_grad():
        layer.weight.mul_(10)
    clip_weights(layer.parameters(), 0.01)
    assert all(p.abs().max() <= 0.01 for p in layer.parameters())
    w = torch.nn.Parameter(torch.tensor([-2.0, -0.005, 0.0, 0.003, 3.0]))
    clip_weights([w], 0.01)  # clamped to [-c, c]: inside untouched, outside to the nearest bound
    assert torch.equal(w.data, torch.tensor([-0.01, -0.005, 0.0, 0.003, 0.01]))


def test_wgan_critic_is_clipped_before_use(mnist64, tiny_gan):
    model = tiny_gan("wgan", mnist64.info, init="default")
    batch = Batch(model.prepare(mnist64.data[:8]), mnist64.labels[:8], step=0)
    model.loss(batch, "discriminator")
    assert max(float(p.detach().abs().max()) for p in model.critic.parameters()) <= 0.01


def test_wgan_critic_is_clipped_after_its_update_before_g_uses_it(mnist64, tiny_gan):
    """Through the trainer: after every discriminator step the critic is inside [-c, c] (a large lr pushes
    every weight out of the cube), so the generator's step that follows sees the clipped critic."""
    from dgm.train import TrainConfig, Trainer

    model = tiny_gan("wgan", mnist64.info, init="default", n_critic=1)
    tr = Trainer(model, mnist64, TrainConfig(steps=1, batch_size=16, lr=0.5, optimizer="rmsprop"), progress=False,
                 callbacks=[])
    seen = []
    critic_forward = model.critic.forward

    def spy(*a, **kw):
        seen.append(max(float(p.detach().abs().max()) for p in model.critic.parameters()))
        return critic_forward(*a, **kw)

    model.critic.forward = spy
    tr.train_step(Batch(model.prepare(mnist64.data[:16]), mnist64.labels[:16], step=0))
    assert max(float(p.detach().abs().max()) for p in model.critic.parameters()) <= 0.01
    assert len(seen) >= 3 and max(seen) <= 0.01  # D's real and fake passes, then G's pass


def test_lazy_r1_in_the_model(mnist64, tiny_gan):
    model = tiny_gan("dcgan", mnist64.info, r1_weight=10.0, r_every=4)
    x = model.prepare(mnist64.data[:8])
    on = model.loss(Batch(x, None, step=8), "discriminator")
    off = model.loss(Batch(x, None, step=9), "discriminator")
    assert "r1" in on and "r1" not in off and float(on["r1"]) > 0


def test_wgan_gp_loss_has_the_penalty(mnist64, tiny_gan):
    model = tiny_gan("wgan-gp", mnist64.info)
    out = model.loss(Batch(model.prepare(mnist64.data[:8]), None, step=0), "discriminator")
    assert float(out["gp"]) > 0 and torch.isclose(out["loss"], out["adv"] + out["gp"])
