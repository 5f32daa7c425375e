"""FactorVAE's parts: dimension-wise shuffling keeps every marginal and breaks dependence; the density-ratio
estimate of total correlation is near 0 for independent codes and large for perfectly correlated ones; the
penalty reaches the encoder and the discriminator trains in its own group."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dgm.data.dataset import DatasetInfo
from dgm.models import create
from dgm.models.base import Batch
from dgm.models.factor_vae import permute_dims, total_correlation
from dgm.nn import MLP


def test_permute_dims_keeps_marginals_and_breaks_dependence():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 1, generator=g)
    z = torch.cat([a, a, 2 * a + 1], 1)  # perfectly dependent columns
    p = permute_dims(z, torch.Generator().manual_seed(1))
    assert torch.equal(p.sort(0).values, z.sort(0).values)  # each marginal, exactly
    corr = torch.corrcoef(p.T)
    assert corr[0, 1].abs() < 0.06 and corr[0, 2].abs() < 0.06 and corr[1, 2].abs() < 0.06
    assert not torch.equal(p[:, 0], z[:, 0])


def fitted_tc(z: torch.Tensor, steps: int = 400) -> float:
    """Train a small discriminator on z against its dimension-shuffled copy, then estimate TC on fresh z."""
    torch.manual_seed(0)
    d = MLP(z.shape[1], (64, 64), 1, "leaky_relu")
    opt = torch.optim.Adam(d.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(2)
    for _ in range(steps):
        joint, product = d(z).squeeze(-1), d(permute_dims(z, g)).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(joint, torch.ones_like(joint)) + \
            F.binary_cross_entropy_with_logits(product, torch.zeros_like(product))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(total_correlation(d(z).squeeze(-1)))


def test_total_correlation_estimate_independent_vs_correlated():
    g = torch.Generator().manual_seed(3)
    independent = torch.randn(2000, 2, generator=g)
    a = torch.randn(2000, 1, generator=g)
    correlated = torch.cat([a, a + 0.01 * torch.randn(2000, 1, generator=g)], 1)
    assert abs(fitted_tc(independent)) < 0.15
    assert fitted_tc(correlated) > 1.5  # true TC of this pair: -0.5 log(1 - rho^2), about 3.9 nats


def test_tc_penalty_reaches_the_encoder_and_groups_are_apart():
    info = DatasetInfo(name="toy", split="train", shape=(1, 8, 8), kind="binary")
    model = create("factor-vae", info, hidden=(16,), latent_dim=3, tc_hidden=8, tc_layers=1, gamma=10.0)
    groups = model.optimizer_groups()
    assert set(groups) == {"main", "discriminator"} and model.update_schedule(0) == ["main", "discriminator"]
    disc = {id(p) for p in groups["discriminator"].params}
    assert disc == {id(p) for p in model.tc_discriminator.parameters()}
    assert not disc & {id(p) for p in groups["main"].params}
    assert groups["discriminator"].settings == {"lr": 1e-4, "betas": (0.5, 0.9)}
    x = (torch.rand(32, 1, 8, 8) < 0.5).float()
    torch.manual_seed(0)
    with_tc = model.loss(Batch(x), "main")
    enc = model.net.encoder[1][0].weight  # the first linear layer of the encoder MLP
    with_tc["loss"].backward()
    g_with = enc.grad.clone()
    model.zero_grad()
    object.__setattr__(model.config, "gamma", 0.0)
    torch.manual_seed(0)
    model.loss(Batch(x), "main")["loss"].backward()
    assert not torch.allclose(g_with, enc.grad)  # the TC term changes the encoder's gradient
    model.zero_grad()
    out = model.loss(Batch(x), "discriminator")
    out["loss"].backward()
    assert enc.grad is None  # the discriminator's loss does not touch the encoder
    assert all(p.grad is not None for p in model.tc_discriminator.parameters())


def test_main_loss_adds_gamma_times_tc_and_the_discriminator_learns_positive_tc():
    info = DatasetInfo(name="toy", split="train", shape=(1, 8, 8), kind="binary")
    model = create("factor-vae", info, hidden=(16,), latent_dim=2, tc_hidden=32, tc_layers=2, gamma=7.0)
    x = (torch.rand(64, 1, 8, 8) < 0.5).float()
    torch.manual_seed(1)
    with_tc = model.loss(Batch(x), "main")
    object.__setattr__(model.config, "gamma", 0.0)
    torch.manual_seed(1)
    without = model.loss(Batch(x), "main")
    object.__setattr__(model.config, "gamma", 7.0)
    assert float(with_tc["loss"] - without["loss"]) == pytest.approx(7.0 * float(with_tc["tc"]), abs=1e-4)  # fp32 sums of ~44
    # codes with strongly dependent dimensions: the model's own discriminator phase learns to tell them from their
    # shuffles, and the TC the main loss then penalises is large and positive
    g = torch.Generator().manual_seed(2)

    def correlated(_x):  # draw_posterior's (codes, log q, KL)
        a = torch.randn(256, 1, generator=g)
        z = torch.cat([a, a + 0.05 * torch.randn(256, 1, generator=g)], 1)
        return z, torch.zeros(256), torch.zeros(256)

    model.draw_posterior = correlated
    opt = torch.optim.Adam(model.tc_discriminator.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model.loss(Batch(x), "discriminator")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(model.loss(Batch(x), "discriminator")["accuracy"]) > 0.8
    model.head.log_prob = lambda params, target: torch.zeros(len(params))  # only the TC term matters here
    model.net.decoder = lambda z: z
    assert float(model.loss(Batch(x), "main")["tc"]) > 1.0
