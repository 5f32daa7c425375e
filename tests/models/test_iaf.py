"""IAF posteriors: MADE's masks are autoregressive in any order (autograd Jacobian), each gated step has a
triangular Jacobian whose log-determinant is the sum of its log gates, the model's log q(z|x) is the
change-of-variables density (brute-force determinant), zero steps is the plain VAE, and the bounds order."""
from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from dgm.data.dataset import DatasetInfo
from dgm.models import Batch, create
from dgm.models.iaf import IAF, IAFStep
from dgm.nn.made import MADE

INFO = DatasetInfo(name="toy", split="train", shape=(1, 4, 4), kind="binary")


@pytest.mark.parametrize("context", [0, 3])
def test_made_outputs_depend_only_on_earlier_inputs_in_its_order(context):
    torch.manual_seed(0)
    order = torch.tensor([2, 0, 4, 1, 3])
    made = MADE(5, (12, 9), outputs=2, context_dim=context, order=order)
    h = torch.randn(context) if context else None
    x = torch.randn(5)
    jac = jacobian(lambda v: made(v[None], None if h is None else h[None])[0], x)  # (2, 5, 5): output, position, input
    rank = torch.empty(5, dtype=torch.long)
    rank[order] = torch.arange(5)
    allowed = rank[None, :] < rank[:, None]  # [i, j]: input j comes before position i
    assert (jac[:, ~allowed] == 0).all()
    assert (jac[:, allowed].abs() > 0).float().mean() > 0.8  # and it does use what it may
    assert (jac[:, order[0]] == 0).all()  # the first position in the order sees no input


def test_made_rejects_an_order_that_is_not_a_permutation():
    with pytest.raises(ValueError, match="permutation"):
        MADE(3, (4,), order=torch.tensor([0, 0, 1]))


def test_gated_step_is_triangular_and_its_log_det_is_the_sum_of_log_gates():
    torch.manual_seed(1)
    step = IAFStep(4, (16,), 2, torch.arange(4), forget_bias=1.0)
    for p in step.parameters():  # away from the near-identity start, so the check has teeth
        p.data.normal_(0, 0.5)
    z, h = torch.randn(4), torch.randn(2)
    jac = jacobian(lambda v: step(v[None], h[None])[0][0], z)
    assert torch.equal(jac, jac.tril())  # z'_i depends on z_j only for j <= i in the order 0..3
    _, log_det = step(z[None], h[None])
    torch.testing.assert_close(log_det[0], torch.linalg.slogdet(jac)[1], rtol=1e-5, atol=1e-5)
    m, s = step.made(z[None], h[None]).unbind(-2)
    torch.testing.assert_close(jac.diagonal(), torch.sigmoid(s[0] + 1.0), rtol=1e-5, atol=1e-6)


def test_the_model_density_of_its_codes_is_the_change_of_variables_density():
    torch.manual_seed(2)
    model = create("vae-iaf", INFO, hidden=(16,), latent_dim=3, iaf_steps=3, iaf_hidden=(10,), iaf_context=2)
    for p in model.flow.parameters():
        p.data.normal_(0, 0.5)
    x = torch.bernoulli(torch.full((2, 1, 4, 4), 0.5))
    gen = torch.Generator().manual_seed(7)
    z, log_q, kl = model.draw_posterior(x, 1, gen)
    mu, logvar, h = model.encoded(x)
    eps = torch.randn((1, 2, 3), generator=torch.Generator().manual_seed(7))[0]
    z0 = mu + (0.5 * logvar).exp() * eps
    for b in range(2):
        jac = jacobian(lambda v: model.flow(v[None], h[b:b + 1])[0][0], z0[b].detach())
        base = torch.distributions.Normal(mu[b], (0.5 * logvar[b]).exp()).log_prob(z0[b]).sum()
        expected = base - torch.linalg.slogdet(jac)[1]
        torch.testing.assert_close(log_q[0, b], expected, rtol=1e-4, atol=1e-4)
        prior = torch.distributions.Normal(0.0, 1.0).log_prob(z[0, b]).sum()
        torch.testing.assert_close(kl[b], expected - prior, rtol=1e-4, atol=1e-4)


def test_flow_of_zero_steps_is_the_identity():
    z = torch.randn(5, 3)
    out, log_det = IAF(3, 0, (4,), 0)(z, None)
    assert torch.equal(out, z) and torch.equal(log_det, torch.zeros(5))


def test_zero_steps_is_the_plain_vae():
    torch.manual_seed(3)
    plain = create("vae", INFO, hidden=(16,), latent_dim=3)
    iaf = create("vae-iaf", INFO, hidden=(16,), latent_dim=3, iaf_steps=0)
    assert iaf.flow is None
    iaf.load_state_dict(plain.state_dict())  # the same parameters, nothing more
    x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.5))
    losses = []
    for model in (plain, iaf):
        torch.manual_seed(4)
        losses.append(model.loss(Batch(x, step=1))["loss"])
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)


def test_bounds_order_and_the_flow_trains():
    torch.manual_seed(5)
    model = create("vae-iaf", INFO, hidden=(32,), latent_dim=2, iaf_steps=2, iaf_hidden=(16,), iaf_context=4)
    x = torch.bernoulli(torch.rand(1, 1, 4, 4).expand(64, -1, -1, -1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(150):
        loss = model.loss(Batch(x, step=step))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.flow.parameters())
    model.eval()
    with torch.no_grad():
        g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
        elbo = torch.stack([model.elbo(x[:1], 1, generator=torch.Generator().manual_seed(s)) for s in range(200)]).mean()
        iwae = [float(model.elbo(x[:1], k, generator=g())) for k in (10, 1000)]
    assert float(elbo) <= iwae[0] + 0.05 and iwae[0] <= iwae[1] + 0.05 and math.isfinite(iwae[1])
