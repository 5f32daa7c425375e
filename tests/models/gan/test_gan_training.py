"""GANs in the trainer: the update schedule, EMA of the weights, TTUR, the unrolled (manual) path, and every
preset on 2-D points."""
import math

import pytest
import torch

from dgm.errors import ConfigError
from dgm.models import Batch, models
from dgm.models.gan import GAN
from dgm.models.gan.unrolled import adam_update, unrolled_generator_loss
from dgm.train import TrainConfig, Trainer
from dgm.train.callbacks import Callback

GAN_NAMES = [n for n in models.names() if models.get(n).cls is GAN]


def test_n_critic_schedule(mnist64, tiny_gan):
    model = tiny_gan("wgan-gp", mnist64.info)
    assert [len(model.update_schedule(s)) for s in range(10)] == [1, 1, 1, 1, 2] * 2
    tr = Trainer(model, mnist64, TrainConfig(steps=10, batch_size=16, optimizer="adam"), progress=False)
    tr.fit()
    steps = {g: int(next(iter(o.state.values()))["step"]) for g, o in tr.optimizers.items()}
    assert steps == {"discriminator": 10, "generator": 2}


@pytest.mark.parametrize("name, calls", [("dcgan", 4), ("wgan-gp", 4)])
def test_generator_runs_once_per_step(name, calls, mnist64, tiny_gan):
    """G's step reuses the samples D's step drew for the same batch: one generator forward per trainer step."""
    model = tiny_gan(name, mnist64.info)
    count = []
    model.generator.register_forward_hook(lambda *a: count.append(1))
    Trainer(model, mnist64, TrainConfig(steps=4, batch_size=16), progress=False).fit()
    assert len(count) == calls
    batch = Batch(model.prepare(mnist64.data[:8]), None, step=4)
    model.loss(Batch(batch.x, None, step=4), "discriminator")
    model.loss(batch, "generator")  # another batch object: its own fresh samples
    assert len(count) == calls + 2


def test_ttur_learning_rates(mnist64, tiny_gan):
    model = tiny_gan("sagan", mnist64.info)
    tr = Trainer(model, mnist64, TrainConfig(steps=1, batch_size=8, lr=1e-3), progress=False)
    assert tr.optimizers["discriminator"].param_groups[0]["lr"] == 4e-4
    assert tr.optimizers["generator"].param_groups[0]["lr"] == 1e-4
    plain = Trainer(tiny_gan("dcgan", mnist64.info), mnist64, TrainConfig(steps=1, batch_size=8, lr=1e-3),
                    progress=False)
    assert {o.param_groups[0]["lr"] for o in plain.optimizers.values()} == {1e-3}


class Record(Callback):
    """Keeps a copy of the generator's parameters after every step."""

    def __init__(self):
        self.history = []

    def on_step_end(self, trainer, logs):
        self.history.append([p.detach().clone() for p in trainer.model.generator.parameters()])


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_of_a_gan_run(mnist64, tiny_gan, warmup):
    """The EMA copy (used for sampling) is d * shadow + (1 - d) * weights after each step t, with
    d = min(decay, (1 + t) / (10 + t)) under warm-up, else the decay."""
    model = tiny_gan("dcgan", mnist64.info)
    start = [p.detach().clone() for p in model.generator.parameters()]
    rec = Record()
    tr = Trainer(model, mnist64, TrainConfig(steps=4, batch_size=16, ema_decay=0.75, ema_warmup=warmup),
                 callbacks=[rec], progress=False)
    tr.fit()
    shadow = start
    for t, params in enumerate(rec.history):
        d = min(0.75, (1 + t) / (10 + t)) if warmup else 0.75
        shadow = [d * s + (1 - d) * p for s, p in zip(shadow, params)]
    for got, want in zip(tr.ema.model.generator.parameters(), shadow):
        torch.testing.assert_close(got, want)
    assert tr.sampling_model is tr.ema.model
    assert not torch.equal(next(tr.ema.model.generator.parameters()), next(model.generator.parameters()))


def test_unrolled_gan_runs_through_the_manual_path(ring, tiny_gan):
    model = tiny_gan("unrolled-gan", ring.info)
    assert model.manual_optimization and model.config.schedule.unroll_steps == 5
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tr = Trainer(model, ring, TrainConfig(steps=3, batch_size=64), progress=False)
    logs = tr.fit()
    assert {"discriminator/loss", "generator/loss"} <= set(logs)
    assert all(math.isfinite(v) for v in logs.values())
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("generator.") for n in changed) and any(n.startswith("critic.") for n in changed)


@pytest.mark.parametrize("second_order", [True, False])
def test_unrolling_leaves_the_discriminator_alone(ring, tiny_gan, second_order):
    model = tiny_gan("unrolled-gan", ring.info, unroll_second_order=second_order)
    critic_before = {n: p.detach().clone() for n, p in model.critic.named_parameters()}
    opt = torch.optim.Adam(model.critic.parameters(), lr=1e-3)  # no state yet: the unroll starts from zero moments
    out = unrolled_generator_loss(model, Batch(ring.data[:32], ring.labels[:32], step=0), opt)
    out["loss"].backward()
    assert all(p.grad is not None for p in model.generator.parameters())
    assert all(p.grad is None for p in model.critic.parameters())
    for n, p in model.critic.named_parameters():
        assert torch.equal(p, critic_before[n])
    assert not opt.state  # the optimizer is read, never stepped


def test_unrolled_loss_differs_from_the_plain_one(ring, tiny_gan):
    """With unroll_lr > 0 G is scored against a moved D; with 0 steps of size 0 it is the plain G loss."""
    batch = Batch(ring.data[:32], None, step=0)
    plain = tiny_gan("unrolled-gan", ring.info, unroll_optimizer="sgd", unroll_lr=0.0)
    torch.manual_seed(1)
    a = unrolled_generator_loss(plain, batch)["loss"]
    torch.manual_seed(1)
    b = plain.generator_loss(batch)["loss"]
    torch.testing.assert_close(a, b)
    moved = tiny_gan("unrolled-gan", ring.info, unroll_optimizer="sgd", unroll_lr=1.0)
    torch.manual_seed(1)
    assert not torch.allclose(unrolled_generator_loss(moved, batch)["loss"], b)


def test_adam_unroll_continues_the_optimizer_exactly(ring, tiny_gan):
    """k unrolled Adam steps from D's optimizer state land where k real torch.optim.Adam steps land."""
    model = tiny_gan("unrolled-gan", ring.info)
    critic = model.critic
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.9), eps=1e-8)
    x = ring.data[:64]

    def loss_of(params=None):
        if params is None:
            return critic(x).logits.pow(2).mean() + critic(-x).logits.mean()
        call = torch.func.functional_call
        return call(critic, params, (x,)).logits.pow(2).mean() + call(critic, params, (-x,)).logits.mean()

    for _ in range(2):  # give the optimizer a state to continue
        opt.zero_grad()
        loss_of().backward()
        opt.step()
    named = dict(critic.named_parameters())
    update = adam_update(opt, named)
    params = {n: p.detach().clone() for n, p in named.items()}
    for _ in range(3):
        ps = {n: p.requires_grad_(True) for n, p in params.items()}
        grads = torch.autograd.grad(loss_of(ps), list(ps.values()))
        params = {n: update(n, p, g).detach() for (n, p), g in zip(ps.items(), grads)}
    for _ in range(3):
        opt.zero_grad()
        loss_of().backward()
        opt.step()
    for n, p in critic.named_parameters():
        torch.testing.assert_close(params[n], p.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("unroll", ["sgd", "adam"])
def test_second_order_unrolled_gradient_matches_finite_differences(ring, tiny_gan, unroll):
    """G's gradient through k unrolled D updates (second order) is the derivative of the unrolled loss."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = tiny_gan("unrolled-gan", ring.info, unroll_optimizer=unroll, unroll_lr=0.5, unroll_steps=3)
        opt = torch.optim.Adam(model.critic.parameters(), lr=0.05)
        x = ring.data[:16].double()
        model.critic(x).logits.mean().backward()  # one real step, so Adam's unroll continues a state
        opt.step()
        batch = Batch(x, None, step=0)

        def unrolled_loss():
            torch.manual_seed(3)  # the same latents every call
            return unrolled_generator_loss(model, batch, opt)["loss"]

        param = list(model.generator.parameters())[-1]  # G's output bias (2,)
        model.zero_grad()
        unrolled_loss().backward()
        h, numeric = 1e-6, []
        for i in range(param.numel()):  # the unrolled loss differentiates inside: perturb .data, not under no_grad
            param.data[i] += h
            up = unrolled_loss().detach()
            param.data[i] -= 2 * h
            down = unrolled_loss().detach()
            param.data[i] += h
            numeric.append((up - down) / (2 * h))
        torch.testing.assert_close(param.grad, torch.stack(numeric), rtol=1e-5, atol=1e-8)
    finally:
        torch.set_default_dtype(default)


def test_adam_unrolled_gan_trains_with_finite_second_order_gradients(ring, tiny_gan):
    model = tiny_gan("unrolled-gan", ring.info, unroll_optimizer="adam")
    tr = Trainer(model, ring, TrainConfig(steps=4, batch_size=32, optimizer="adam"), progress=False)
    logs = tr.fit()
    assert tr.nonfinite_total == 0 and all(math.isfinite(v) for v in logs.values())
    with pytest.raises(ConfigError, match="discriminator needs optimizer adam"):  # before any training
        Trainer(tiny_gan("unrolled-gan", ring.info, unroll_optimizer="adam"), ring,
                TrainConfig(steps=1, batch_size=32, optimizer="rmsprop"), progress=False)


@pytest.mark.parametrize("name", GAN_NAMES)
def test_every_preset_trains_on_points(name, ring, tiny_gan):
    model = tiny_gan(name, ring.info)
    Trainer(model, ring, TrainConfig(steps=3, batch_size=32), progress=False).fit()
    x = model.eval().sample(9, generator=torch.Generator().manual_seed(0))
    assert x.shape == (9, 2) and torch.isfinite(x).all()
