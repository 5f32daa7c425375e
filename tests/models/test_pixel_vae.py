"""PixelVAE / VLAE: the conditional decoder is causal (autograd Jacobian) and its receptive field is what
``receptive_field`` says (zero outside, reached at the edge), z reaches every output; the flow prior's density
is the change-of-variables density and its sampler inverts it; free bits clamp each dimension's KL from below;
the bounds are the ones computed by hand."""
from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian
from torch.distributions import Bernoulli, Normal, kl_divergence

from dgm.data.dataset import DatasetInfo
from dgm.models import Batch, create
from dgm.models.autoregressive.sampling import to_input
from dgm.models.pixel_vae import AutoregressiveFlowPrior, receptive_field

INFO = DatasetInfo(name="toy", split="train", shape=(1, 10, 10), kind="binary")


@pytest.mark.parametrize("layers,first_kernel", [(2, 3), (3, 5)])
def test_decoder_is_causal_and_sees_exactly_its_receptive_field(layers, first_kernel):
    torch.manual_seed(0)
    model = create("pixelvae", INFO, latent_dim=2, hidden=(8,), channels=8, layers=layers, first_kernel=first_kernel,
                   out_hidden=8)
    up, r = model.receptive_field
    assert (up, r) == receptive_field(layers, 3, first_kernel) == (first_kernel // 2 + layers, first_kernel // 2 + layers - 1)
    x, z = torch.rand(1, 1, 10, 10), torch.randn(1, 2)
    i, j = 7, 5
    jac = jacobian(lambda v: model.decoder(v, z)[0, 0, i, j], x)[0, 0]  # (10, 10): d out(i, j) / d in
    rows, cols = torch.meshgrid(torch.arange(10), torch.arange(10), indexing="ij")
    earlier = (rows < i) | ((rows == i) & (cols < j))
    window = (rows >= i - up) & ((cols - j).abs() <= r)
    assert (jac[~(earlier & window)] == 0).all()  # causal, and nothing outside the window
    # it reaches the window's top row, its columns' edges and its left neighbour
    assert jac[i - up].abs().sum() > 0 and jac[:, j - r].abs().sum() > 0 and jac[:, j + r].abs().sum() > 0
    assert jac[i, j - 1] != 0
    dz = jacobian(lambda v: model.decoder(to_input(x), v)[0, 0], z)  # z conditions every pixel
    assert (dz.abs().sum(-1) > 0).all()


def test_flow_prior_density_is_the_change_of_variables_density_and_sampling_inverts_it():
    torch.manual_seed(1)
    prior = AutoregressiveFlowPrior(3, (12,))
    for p in prior.parameters():
        p.data.normal_(0, 0.4)
    z = torch.randn(3)

    def to_u(v):
        mu, s = prior.made(v[None]).unbind(-2)
        return ((v[None] - mu) * (-s).exp())[0]

    jac = jacobian(to_u, z)
    assert torch.equal(jac, jac.tril())  # u_i depends on z_<=i only
    expected = Normal(0.0, 1.0).log_prob(to_u(z)).sum() + torch.linalg.slogdet(jac)[1]
    torch.testing.assert_close(prior.log_prob(z[None])[0], expected, rtol=1e-5, atol=1e-5)
    u = torch.randn(5, 3)
    with torch.no_grad():
        back = torch.stack([to_u(v) for v in prior.sample(u)])
    torch.testing.assert_close(back, u, rtol=1e-4, atol=1e-5)


def test_free_bits_clamp_each_dimensions_batch_mean_kl_from_below():
    torch.manual_seed(2)
    model = create("pixelvae", INFO, latent_dim=3, hidden=(8,), channels=8, layers=2, out_hidden=8, free_bits=0.5)
    x = torch.bernoulli(torch.full((16, 1, 10, 10), 0.3))
    mu, logvar = model.posterior(x)
    with torch.no_grad():
        model.encoder[1][-1].bias[:3] += torch.tensor([0.0, 0.0, 3.0])  # dim 2 far from the prior: KL above 0.5
    torch.manual_seed(3)
    out = model.loss(Batch(x))
    mu, logvar = model.posterior(x)
    torch.manual_seed(3)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    rec = model.decoder_log_prob(x, z)
    per_dim = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).mean(0)
    assert per_dim[2] > 0.5 and per_dim[:2].max() < 0.5
    torch.testing.assert_close(out["loss"], -rec.mean() + per_dim.clamp(min=0.5).sum(), rtol=1e-5, atol=1e-5)
    with pytest.raises(Exception):
        create("vlae", INFO, free_bits=0.5)  # free bits need the closed-form KL of the Gaussian prior


def test_bounds_by_hand_and_their_order():
    torch.manual_seed(4)
    model = create("pixelvae", INFO, latent_dim=2, hidden=(8,), channels=8, layers=2, out_hidden=8).eval()
    x = torch.bernoulli(torch.full((4, 1, 10, 10), 0.3))
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        q = Normal(mu, (0.5 * logvar).exp())
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
        logits = model.decoder(to_input(x), q.loc + q.scale * eps)
        expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1) - kl_divergence(q, Normal(0.0, 1.0)).sum(1)
        torch.testing.assert_close(model.elbo(x, 1, generator=torch.Generator().manual_seed(5)), expected)
        elbo = torch.stack([model.elbo(x, 1, generator=torch.Generator().manual_seed(s)) for s in range(100)]).mean(0)
        iwae = model.elbo(x, 100, generator=torch.Generator().manual_seed(0))
    assert (iwae >= elbo - 0.05).all()


def test_vlae_samples_through_its_flow_prior_and_decodes_deterministically():
    torch.manual_seed(6)
    model = create("vlae", INFO, latent_dim=2, hidden=(8,), channels=8, out_hidden=8, prior_hidden=(8,)).eval()
    assert model.prior is not None and model.receptive_field == (4, 3)
    s1 = model.sample(3, generator=torch.Generator().manual_seed(0))
    s2 = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s1.shape == (3, 1, 10, 10) and torch.equal(s1, s2) and set(s1.unique().tolist()) <= {0.0, 1.0}
    z = torch.randn(2, 2)
    assert torch.equal(model.decode(z), model.decode(z))
    x = torch.bernoulli(torch.full((2, 1, 10, 10), 0.3))
    out = model.loss(Batch(x))
    assert torch.isfinite(out["loss"]) and "kl" in out
