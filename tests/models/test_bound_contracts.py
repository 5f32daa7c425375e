"""Contracts of the training objectives and likelihood conventions, recomputed independently of the model's
own helpers: every VAE variant's loss is its configured bound (beta, capacity, IWAE-k, an IAF posterior) under
the same noise;
every registered flow's total log-determinant is log|det| of the autograd Jacobian of the whole model; the
8-bit discrete-data convention holds through ``elbo`` as well as ``log_prob`` (a decoder whose density is known
gives the brute-force bin probabilities; a model uniform over 256 levels gives exactly 8 bits/dim)."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

import dgm.data
from dgm.data.dataset import DatasetInfo, ImageDataset
from dgm.metrics import negative_log_likelihood
from dgm.models import Batch, create, models
from dgm.models.flows import FlowModel
from dgm.models.vae import VAE

VAE_NAMES = [n for n in models.names() if models.get(n).cls is VAE]
FLOW_NAMES = [n for n in models.names() if issubclass(models.get(n).cls, FlowModel)]


def tiny(name, info, **values):
    cls = models.get(name).cls
    return create(name, info, **{**cls.tiny, **values})


def log_weights(model, x, q, z):
    """log p(x|z) + log p(z) - log q(z|x) for z (k, B, L), by torch.distributions (Bernoulli decoder)."""
    return (Bernoulli(logits=model.net.decoder(z)).log_prob(x).flatten(2).sum(-1)
            + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1))


def expected_vae_loss(model, x, step, seed):
    """(training loss, ELBO) of ``model.config``'s bound, recomputed under the noise the loss draws after
    ``torch.manual_seed(seed)``: beta-weighted ELBO, Burgess's capacity objective, or the IWAE-k bound."""
    cfg = model.config
    mu, logvar = model.posterior(x)
    q = Normal(mu, (0.5 * logvar).exp())
    torch.manual_seed(seed)
    if cfg.iwae_k > 1:
        z = q.loc + q.scale * torch.randn(cfg.iwae_k, *mu.shape)
        return -(torch.logsumexp(log_weights(model, x, q, z), 0) - math.log(cfg.iwae_k)).mean(), None
    z = q.loc + q.scale * torch.randn_like(mu)
    if model.flow is None:
        kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1)
    else:  # an IAF posterior: log q(z_T | x) by change of variables, with log|det| from the autograd Jacobian
        z0, h = z, model.encoded(x)[2]
        z = model.flow(z0, h)[0]
        log_det = torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(
            lambda v: model.flow(v[None], h[i:i + 1])[0][0], z0[i].detach()))[1] for i in range(len(z0))])
        kl = q.log_prob(z0).sum(-1) - log_det - Normal(0.0, 1.0).log_prob(z).sum(-1)
    rec = Bernoulli(logits=model.net.decoder(z)).log_prob(x).flatten(1).sum(1)
    if cfg.capacity:
        c = cfg.capacity * min(1.0, step / cfg.capacity_steps)
        return -rec.mean() + cfg.capacity_gamma * (kl.mean() - c).abs(), (rec - kl).mean()
    return (-rec + cfg.beta * kl).mean(), (rec - kl).mean()


def check_vae_loss(model, data, step):
    x = model.prepare(data[:16], torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    out = model.loss(Batch(x, step=step))
    expected, elbo = expected_vae_loss(model, x, step, seed=1)
    torch.testing.assert_close(out["loss"], expected, rtol=1e-5, atol=1e-4)
    if elbo is not None:
        torch.testing.assert_close(out["elbo"], elbo.detach(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", VAE_NAMES)
def test_vae_loss_is_its_configured_bound(name, mnist_small):
    torch.manual_seed(0)
    check_vae_loss(tiny(name, mnist_small.info), mnist_small.data, step=30_000)  # mid capacity schedule


def constant_gaussian_decoder(mean: float, std: float):
    """A VAE on 8-bit images whose posterior is the prior (KL = 0) and whose decoder is N(mean, std^2) per
    pixel whatever z is: its ELBO is exactly the dequantised Gaussian density plus the discrete correction."""
    info = DatasetInfo("tiny8", "test", (1, 3, 4))
    model = create("vae", info, hidden=(8,), latent_dim=2, likelihood="gaussian", gaussian_std=std)
    enc = [m for m in model.net.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    dec = [m for m in model.net.decoder_net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        enc.weight.zero_(), enc.bias.zero_()  # mu = 0, log var = 0
        dec.weight.zero_(), dec.bias.fill_(mean)
    return model, info


def test_vae_elbo_of_8bit_data_is_the_bin_probability():
    """log P(k) = log (Phi((k+1)/256) - Phi(k/256)) per pixel, by brute force, against ``elbo`` through the
    evaluation path; a missing (or doubled) -D ln 256 would be off by 8.3 nats per pixel."""
    mean, std = 0.45, 0.3
    model, info = constant_gaussian_decoder(mean, std)
    k = torch.randint(0, 256, (200, *info.shape), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    record = negative_log_likelihood(model, ImageDataset(k, None, info), k=1, batch_size=50)
    normal = Normal(mean, std)
    kd = k.double()
    exact = -(normal.cdf((kd + 1) / 256) - normal.cdf(kd / 256)).log().flatten(1).sum(1).mean()
    # the one-sample dequantised bound differs from log P(k) by O(1/256 / std) per pixel, in either direction
    assert record["nll_nats"] == pytest.approx(float(exact), abs=0.05)


@pytest.mark.parametrize("name", [n for n in models.names() if "pixelcnn" in n])
def test_autoregressive_model_uniform_over_256_levels_has_8_bits_per_dim(name):
    """A categorical head with all-zero logits is uniform over the 256 values of every pixel."""
    info = DatasetInfo("tiny8", "test", (1, 5, 5))
    model = tiny(name, info, likelihood="categorical")
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    k = torch.randint(0, 256, (20, *info.shape), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    record = negative_log_likelihood(model, ImageDataset(k, None, info), batch_size=10)
    assert record["bits_per_dim"] == pytest.approx(8.0, abs=1e-5)


def perturbed(model, scale=0.05, seed=0):
    """Every parameter moved off its initial value, so that zero-initialised layers (identity couplings at
    initialisation) contribute a log-determinant of their own."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


@pytest.mark.parametrize("name", FLOW_NAMES)
def test_flow_total_log_det_equals_the_autograd_jacobian(name):
    torch.manual_seed(0)
    info = DatasetInfo("tiny8", "test", (1, 8, 8))
    model = tiny(name, info).double()
    x = model.prepare(torch.randint(0, 256, (4, *info.shape), dtype=torch.uint8),
                      torch.Generator().manual_seed(0)).double()
    model.train()
    model.log_prob(x)  # data-dependent initialisation (ActNorm) on a batch
    model.eval()
    perturbed(model)
    with torch.no_grad():
        _, ladj = model.transform(x)
    for i in range(len(x)):
        def z_of(flat):
            return model.transform(flat.view(1, *info.shape))[0].flatten()

        jac = torch.autograd.functional.jacobian(z_of, x[i].flatten(), vectorize=True)
        assert jac.shape == (64, 64)
        torch.testing.assert_close(ladj[i], torch.linalg.slogdet(jac).logabsdet, rtol=1e-7, atol=1e-7)


def test_vae_presets_have_their_papers_values(mnist_small):
    """The registered names are the papers' settings (the formula test above reads them from the config)."""
    expected = {"vae": dict(beta=1.0, capacity=0.0, iwae_k=1), "beta-vae": dict(beta=4.0, capacity=0.0, iwae_k=1),
                "beta-vae-c": dict(capacity=25.0, capacity_steps=100_000, capacity_gamma=1000.0, iwae_k=1),
                "iwae": dict(beta=1.0, capacity=0.0, iwae_k=5)}
    for name, values in expected.items():
        cfg = tiny(name, mnist_small.info).config
        assert {k: getattr(cfg, k) for k in values} == values, name
    defaults = VAE.Config()  # Burgess et al.'s schedule when only model.capacity is set; the IWAE paper's training
    assert (defaults.capacity_steps, defaults.capacity_gamma) == (100_000, 1000.0)
    assert {k: models.get("vae").train[k] for k in ("lr", "batch_size", "steps")} == \
        {"lr": 1e-3, "batch_size": 100, "steps": 10_000}
    assert tiny("vae", mnist_small.info, beta=0.0).config.beta == 0.0  # beta = 0 (an autoencoder's loss) is allowed
    assert tiny("vae", mnist_small.info, iwae_k=100_000).config.iwae_k == 100_000
    with pytest.raises(Exception, match="too large"):
        tiny("vae", mnist_small.info, iwae_k=100_001)


@pytest.mark.parametrize("values, step", [({"iwae_k": 2}, 0), ({"capacity": 0.5, "capacity_steps": 100}, 40),
                                          ({"capacity": 3.0, "capacity_steps": 100}, 1_000)])
def test_vae_loss_at_the_edges_of_its_settings(values, step, mnist_small):
    """The smallest IWAE (k = 2), a capacity below 1 nat, and a step past the capacity schedule's end (C stays
    at C_max)."""
    torch.manual_seed(0)
    check_vae_loss(tiny("vae", mnist_small.info, **values), mnist_small.data, step)


def test_vae_elbo_encode_and_sample_by_hand(mnist_small):
    """elbo (k = 1: analytic KL; k = 2: IWAE-2; the default is k = 1), encode (the posterior mean) and sample
    (decoder means of temperature-scaled prior draws by default) recomputed from their definitions."""
    torch.manual_seed(0)
    model = tiny("vae", mnist_small.info).eval()
    x = model.prepare(mnist_small.data[:8], torch.Generator().manual_seed(0))
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        q, prior = Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
        rec = Bernoulli(logits=model.net.decoder(q.loc + q.scale * eps)).log_prob(x).flatten(1).sum(1)
        elbo1 = rec - kl_divergence(q, prior).sum(-1)
        torch.testing.assert_close(model.elbo(x, 1, generator=torch.Generator().manual_seed(3)), elbo1)
        torch.testing.assert_close(model.elbo(x, generator=torch.Generator().manual_seed(3)), elbo1)
        z = q.loc + q.scale * torch.randn((2, *mu.shape), generator=torch.Generator().manual_seed(3))
        iwae2 = torch.logsumexp(log_weights(model, x, q, z), 0) - math.log(2)
        torch.testing.assert_close(model.elbo(x, 2, generator=torch.Generator().manual_seed(3)), iwae2)
        torch.testing.assert_close(model.encode(x), mu)
        for t in (1.0, 0.5):
            z = torch.randn(5, model.latent_dim, generator=torch.Generator().manual_seed(4)) * t
            expected = torch.sigmoid(model.net.decoder(z))
            kw = {} if t == 1.0 else {"temperature": t}
            torch.testing.assert_close(model.sample(5, generator=torch.Generator().manual_seed(4), **kw), expected)
