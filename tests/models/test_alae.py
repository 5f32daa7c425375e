"""ALAE's phases: R1 against its closed form on a linear critic, the latent phase trains E and G only (F's w
held fixed), and each phase's loss reaches exactly the parts its group steps."""
from __future__ import annotations

import pytest
import torch

from dgm.data.dataset import DatasetInfo
from dgm.models import create
from dgm.models.alae import r1_penalty
from dgm.models.base import Batch


def test_r1_of_a_linear_critic_is_its_squared_weight_norm():
    torch.manual_seed(0)
    enc, crit = torch.nn.Linear(6, 3), torch.nn.Linear(3, 1)
    x = torch.randn(5, 6, requires_grad=True)
    value = r1_penalty(crit(enc(x)).squeeze(-1), x)
    expected = (crit.weight @ enc.weight).pow(2).sum()  # d critic / dx = W_D W_E, the same for every x
    assert float(value.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    value.backward()  # the graph is kept: the penalty trains the critic
    assert enc.weight.grad is not None and crit.weight.grad is not None


def touched(model, loss) -> set[str]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name.split(".")[0] for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


def test_each_phase_reaches_the_parts_it_trains():
    torch.manual_seed(0)
    info = DatasetInfo(name="toy", split="train", shape=(1, 4, 4), kind="image")
    model = create("alae", info, latent_dim=3, w_dim=3, mapping_hidden=(8,), hidden=(8,), disc_hidden=(8,))
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
