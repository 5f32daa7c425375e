"""ALAE's phases: R1 against its closed form on a linear critic, the latent phase trains E and G only (F's w
held fixed), and each phase's loss reaches exactly the parts its group steps."""
from __future__ import annotations

import pytest
import torch

from dgm.data.dataset import DatasetInfo
from dgm.models import create
from dgm.models.base import Batch


@pytest.mark.parametrize("equalized", [True, False])
def test_r1_of_a_linear_encoder_and_critic_is_their_squared_weight_product(equalized):
    # with no hidden layers, D(E(x)) = W_D W_E x + c, so grad_x = W_D W_E for every x: R1 = ||W_D W_E||^2 (with
    # equalised layers W is the stored weight times its runtime scale)
    torch.manual_seed(0)
    info = DatasetInfo(name="toy", split="train", shape=(1, 2, 3), kind="image")
    model = create("alae", info, latent_dim=3, w_dim=3, mapping_hidden=(8,), hidden=(), disc_hidden=(),
                   equalized_lr=equalized)
    out = model.loss(Batch(torch.rand(5, 1, 2, 3) * 2 - 1), "discriminator")
    w_e, w_d = (layer.weight * getattr(layer, "scale", 1.0) for layer in (model.encoder[1][0], model.critic[0]))
    assert float(out["r1"]) == pytest.approx(float((w_d @ w_e).pow(2).sum()), rel=1e-5)
    # the weight: the loss is the adversarial term plus gamma / 2 times R1
    assert float(out["loss"]) == pytest.approx(float(out["adversarial"]) + 5.0 * float(out["r1"]), rel=1e-6)


def touched(model, loss) -> set[str]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name.split(".")[0] for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


@pytest.mark.parametrize("name", ["alae", "alae-style"])
def test_each_phase_reaches_the_parts_it_trains(name):
    torch.manual_seed(0)
    info = DatasetInfo(name="toy", split="train", shape=(1, 4, 4), kind="image")
    model = create(name, info, latent_dim=3, w_dim=3, mapping_hidden=(8,), hidden=(8,), disc_hidden=(8,),
                   channels=(8, 4))
    x = torch.rand(6, 1, 4, 4) * 2 - 1
    groups = {n: {id(p) for p in g.params} for n, g in model.optimizer_groups().items()}
    ids = lambda m: {id(p) for p in m.parameters()}  # noqa: E731
    assert groups["discriminator"] == ids(model.encoder) | ids(model.critic)
    assert groups["generator"] == ids(model.mapping) | ids(model.generator)
    assert groups["latent"] == ids(model.encoder) | ids(model.generator)
    assert touched(model, model.loss(Batch(x), "latent")["loss"]) == {"encoder", "generator"}  # not F, not D
    out = model.loss(Batch(x), "discriminator")
    assert float(out["r1"]) > 0 and touched(model, out["loss"]) == {"encoder", "critic"}  # the fakes are fixed
    assert "generator" in touched(model, model.loss(Batch(x), "generator")["loss"])
    s = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 4, 4) and s.min() >= 0 and s.max() <= 1
    assert model.reconstruct(x).shape == (6, 1, 4, 4)


def test_the_phases_push_the_critic_and_the_generator_the_right_way():
    # the discriminator phase alone makes D(E(real)) exceed D(E(fake)); the generator phase alone then raises the
    # critic's score of the fakes (a swapped sign in either loss would do the opposite)
    torch.manual_seed(0)
    info = DatasetInfo(name="toy", split="train", shape=(1, 4, 4), kind="image")
    model = create("alae", info, latent_dim=3, w_dim=3, mapping_hidden=(16,), hidden=(16,), disc_hidden=(16,),
                   r1_gamma=0.0)
    real = torch.full((64, 1, 4, 4), 0.8)
    groups = model.optimizer_groups()

    def train(group, steps):
        opt = torch.optim.Adam(groups[group].params, lr=1e-2)
        for _ in range(steps):
            loss = model.loss(Batch(real), group)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()

    def fake_score():
        torch.manual_seed(5)
        with torch.no_grad():
            return float(model.image_critic(model._generate(model.mapping(torch.randn(256, 3)))).mean())

    train("discriminator", 100)
    with torch.no_grad():
        assert float(model.image_critic(real).mean()) > fake_score() + 1
    before = fake_score()
    train("generator", 30)
    assert fake_score() > before + 0.5


def test_style_arch_is_checked_with_a_clear_message():
    from dgm.errors import ConfigError

    info = DatasetInfo(name="toy", split="train", shape=(1, 6, 6), kind="image")
    with pytest.raises(ConfigError, match="model.arch 'conv'"):
        create("alae", info, arch="conv")
    with pytest.raises(ConfigError, match="divisible by 4.*model.channels"):
        create("alae-style", info, channels=(8, 8, 8))
