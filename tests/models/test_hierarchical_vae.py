"""Two stochastic layers: on a linear-Gaussian hierarchy, where log p(x) has a closed form, the one-sample ELBO lies
below IWAE-k, IWAE-k rises with k and reaches the exact log-likelihood; ancestral sampling follows p(z2) p(z1|z2)
p(x|z1) (recomputed by hand); active units are counted per layer."""
from __future__ import annotations

import pytest
import torch

import dgm.data
from dgm.data.dataset import DatasetInfo
from dgm.metrics.evaluate import data_record
from dgm.models import Batch, create

INFO = DatasetInfo(name="toy", split="train", shape=(1, 2, 2), kind="image")


def linear_gaussian(seed=0):
    """A two-layer model with linear nets, p(z1|z2) of constant variance and a fixed-std Gaussian decoder, and the
    exact log p(x) of its marginal N(B a + b, B (A A^T + D) B^T + s^2 I)."""
    torch.manual_seed(seed)
    model = create("vae-2l", INFO, latent_dims=(3, 2), hidden=(4, 4), depth=0, likelihood="gaussian",
                   gaussian_std=0.5).double()
    down = model.net.down[0][0]
    with torch.no_grad():
        down.weight[3:] = 0  # the log-variance of p(z1 | z2) does not depend on z2
    dec = model.net.decoder_net[0]
    a_w, a_b, d = down.weight[:3], down.bias[:3], down.bias[3:].exp()
    cov = dec.weight @ (a_w @ a_w.T + torch.diag(d)) @ dec.weight.T + 0.25 * torch.eye(4, dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(dec.weight @ a_b + dec.bias, cov)
    # proposals that cover the posterior, so importance sampling converges in the test's budget: q(z1 | x) the
    # prior's marginal of z1 widened, q(z2 | z1) the exact p(z2 | z1) widened (any q gives a valid bound)
    up1, up2 = model.net.up[0][0], model.net.up[1][0]
    post_cov = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + a_w.T @ torch.diag(1 / d) @ a_w)
    gain = post_cov @ a_w.T @ torch.diag(1 / d)
    with torch.no_grad():
        up1.weight.zero_()
        up1.bias.copy_(torch.cat([a_b, (2 * (a_w @ a_w.T + torch.diag(d)).diagonal()).log()]))
        up2.weight.zero_()
        up2.weight[:2] = gain
        up2.bias.copy_(torch.cat([-gain @ a_b, (2 * post_cov.diagonal()).log()]))
    return model, exact


def test_bounds_order_and_reach_the_closed_form_log_likelihood():
    model, exact = linear_gaussian()
    x = exact.sample((3,)).view(3, 1, 2, 2)
    with torch.no_grad():
        truth = exact.log_prob(x.flatten(1))
        bound = lambda k, s: torch.logsumexp(model.log_weights(x, k, torch.Generator().manual_seed(s)), 0) - \
            torch.log(torch.tensor(float(k), dtype=torch.float64))  # noqa: E731
        elbo = torch.stack([bound(1, s) for s in range(2000)]).mean(0)
        iwae10 = torch.stack([bound(10, s) for s in range(200)]).mean(0)
        iwae_big = bound(200_000, 0)
    assert (elbo < iwae10).all() and (iwae10 < iwae_big + 0.01).all()
    assert (iwae_big <= truth + 0.02).all()
    torch.testing.assert_close(iwae_big, truth, atol=0.05, rtol=0)
    assert (truth - elbo).min() > 0.05  # the bound is not tight by accident: q is not the posterior


def test_elbo_is_the_bound_plus_the_discrete_correction_and_training_raises_it():
    torch.manual_seed(1)
    data = dgm.data.load("mnist-10k").subset(slice(0, 64))
    model = create("iwae-2l", data.info, latent_dims=(8, 4), hidden=(32, 16), depth=1)
    x = model.prepare(data.data, torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = float(model.elbo(x, 5, generator=torch.Generator().manual_seed(0)).mean())
        direct = torch.logsumexp(model.log_weights(x, 5, torch.Generator().manual_seed(0)), 0) - torch.log(
            torch.tensor(5.0))
        torch.testing.assert_close(model.elbo(x, 5, generator=torch.Generator().manual_seed(0)), direct)  # binary: no shift
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(100):
        out = model.loss(Batch(x, step=step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert "iwae_bound" in out
    with torch.no_grad():
        after = float(model.elbo(x, 5, generator=torch.Generator().manual_seed(0)).mean())
    assert after > before + 20


def test_ancestral_sampling_by_hand():
    torch.manual_seed(2)
    model = create("vae-2l", INFO, latent_dims=(3, 2), hidden=(4, 4), depth=1).eval()
    got = model.sample(5, generator=torch.Generator().manual_seed(3), temperature=0.5)
    g = torch.Generator().manual_seed(3)
    z2 = torch.randn(5, 2, generator=g) * 0.5
    mu, logvar = model.net.down[0](z2).chunk(2, -1)
    z1 = mu + (0.5 * logvar).exp() * torch.randn(5, 3, generator=g)
    expected = torch.sigmoid(model.net.decoder_net(z1)).view(5, 1, 2, 2)  # image data: Bernoulli decoder means
    torch.testing.assert_close(got, expected)
    codes = model.encode(torch.rand(4, 1, 2, 2))
    assert codes.shape == (4, 5) and model.decode(codes).shape == (4, 1, 2, 2)


def test_active_units_are_counted_per_layer():
    torch.manual_seed(3)
    data = dgm.data.load("mnist-10k").subset(slice(0, 200))
    model = create("vae-2l", data.info, latent_dims=(6, 4), hidden=(16, 8), depth=1).eval()
    with torch.no_grad():
        model.net.up[1][-1].weight.zero_()  # the top layer's means no longer depend on the input: 0 active there
        model.net.up[1][-1].bias.zero_()
        model.net.up[0][-1].weight.mul_(10)  # the bottom layer's means vary strongly
    au = data_record(model, data, ["au"])["active_units"]
    assert au["layer_sizes"] == [6, 4] and au["per_layer"][1] == 0 and au["per_layer"][0] == 6
    assert au["count"] == sum(au["per_layer"]) and au["of"] == 10


def test_layers_must_match():
    from dgm.errors import ConfigError

    with pytest.raises(ConfigError, match="one entry per stochastic layer"):
        create("vae-2l", INFO, latent_dims=(3, 2), hidden=(4,))
