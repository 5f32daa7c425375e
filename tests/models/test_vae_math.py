"""VAE mathematics: analytic KL, the ordering ELBO <= IWAE-k <= log p(x) on a linear-Gaussian model
where log p(x) is exact, convergence of IWAE-k to log p(x), and reparameterised gradients."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from dgm.data.dataset import DatasetInfo
from dgm.models import Batch, create
from dgm.models.vae import gaussian_kl

torch.manual_seed(0)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = torch.randn(16, 5), torch.randn(16, 5)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=1e-5, atol=1e-5)


def linear_gaussian_vae(d=3, latent=2, sigma=0.5, exact_posterior=False, seed=0):
    """A VAE with linear encoder/decoder and constant decoder std: p(x) = N(b, W W^T + sigma^2 I)."""
    g = torch.Generator().manual_seed(seed)
    info = DatasetInfo("toy", "train", (d,), kind="points")
    vae = create("vae", info, latent_dim=latent, hidden=(), likelihood="gaussian_points")
    dec = vae.net.decoder_net[0]  # Linear(latent, 2d): loc rows, then raw-scale rows
    W, b = torch.randn(d, latent, generator=g), torch.randn(d, generator=g)
    raw = math.log(math.expm1(sigma - vae.head.min_std))  # softplus^-1 so that the std is exactly sigma
    with torch.no_grad():
        dec.weight.zero_()
        dec.weight[:d] = W
        dec.bias[:d] = b
        dec.bias[d:] = raw
        enc = vae.net.encoder[1][0]  # Linear(d, 2 latent) after Flatten
        if exact_posterior:
            # q(z|x) = p(z|x) = N(S W^T (x - b) / sigma^2, S), S = (I + W^T W / sigma^2)^-1
            S = torch.linalg.inv(torch.eye(latent) + W.T @ W / sigma**2)
            A = S @ W.T / sigma**2
            enc.weight[:latent] = A
            enc.bias[:latent] = -A @ b
            enc.weight[latent:] = 0
            enc.bias[latent:] = torch.log(torch.diagonal(S))
        else:
            enc.weight.mul_(0.5)
    p_x = MultivariateNormal(b, W @ W.T + sigma**2 * torch.eye(d))
    return vae, p_x


def test_bounds_are_ordered_and_iwae_converges():
    vae, p_x = linear_gaussian_vae()
    x = p_x.sample((64,))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        exact = p_x.log_prob(x).mean()
        elbo = torch.stack([vae.elbo(x, 1, generator=g) for _ in range(200)]).mean()
        iwae = {k: vae.elbo(x, k, generator=g, chunk=64).mean() for k in (5, 50, 2000)}
    assert elbo < iwae[5] < iwae[50] < iwae[2000] <= exact + 1e-3
    assert exact - iwae[2000] < 0.1 * (exact - elbo)  # IWAE-k approaches log p(x)


def test_elbo_is_tight_with_the_exact_posterior():
    vae, p_x = linear_gaussian_vae(latent=1, exact_posterior=True)  # a 1-D posterior is exactly diagonal
    x = p_x.sample((32,))
    with torch.no_grad():
        # every importance weight equals p(x) exactly when q(z|x) = p(z|x) ...
        torch.testing.assert_close(vae.elbo(x, 7), p_x.log_prob(x), rtol=1e-4, atol=1e-4)
        # ... and the single-sample ELBO (analytic KL) equals log p(x) in expectation
        g = torch.Generator().manual_seed(0)
        elbo = torch.stack([vae.elbo(x, 1, generator=g) for _ in range(4000)]).mean(0)
        torch.testing.assert_close(elbo, p_x.log_prob(x), rtol=0, atol=0.1)


def test_chunked_iwae_combines_chunks_exactly():
    # with the exact posterior every weight is p(x), so any chunking (an uneven last chunk included) must
    # give log p(x) exactly: this checks the logsumexp-over-chunks arithmetic
    vae, p_x = linear_gaussian_vae(latent=1, exact_posterior=True)
    x = p_x.sample((8,))
    with torch.no_grad():
        for chunk in (100, 37, 1):
            torch.testing.assert_close(vae.elbo(x, 100, chunk=chunk), p_x.log_prob(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["vae", "iwae", "beta-vae-c"])
def test_gradients_flow_through_reparameterisation(name, mnist_small):
    vae = create(name, mnist_small.info, hidden=(16,), latent_dim=3)
    x = vae.prepare(mnist_small.data[:8], torch.Generator().manual_seed(0))
    vae.loss(Batch(x, step=10))["loss"].backward()
    enc = [p for n, p in vae.named_parameters() if "encoder" in n]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc)


def test_capacity_schedule():
    info = DatasetInfo("toy", "train", (4,), kind="points")
    vae = create("beta-vae-c", info, hidden=(), latent_dim=2, capacity=10.0, capacity_steps=100)
    torch.manual_seed(0)
    x = torch.randn(16, 4)
    out0 = vae.loss(Batch(x, step=0))
    torch.manual_seed(0)
    out50 = vae.loss(Batch(x, step=50))
    gamma = vae.config.capacity_gamma
    torch.testing.assert_close(out0["loss"], out0["recon"] + gamma * (out0["kl"] - 0).abs(), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(out50["loss"], out50["recon"] + gamma * (out50["kl"] - 5.0).abs(), rtol=1e-4, atol=1e-3)


def test_bernoulli_fast_log_prob_matches_distribution():
    from dgm.models.likelihoods import make_head

    head = make_head("bernoulli", 3)
    params, x = torch.randn(4, 1, 5, 5), torch.randint(0, 2, (4, 1, 5, 5)).float()
    torch.testing.assert_close(head.log_prob(params, x), head.distribution(params).log_prob(x))


def test_dequantised_gaussian_accounts_for_the_discretisation():
    from dgm.models.likelihoods import make_head

    head = make_head("gaussian", 3, gaussian_std=0.1)
    assert head.discrete_correction(784) == pytest.approx(-784 * math.log(256))
