"""The 8-bit likelihood heads: the discretised logistic mixture (PixelCNN++) and the 256-way categorical sum
to one over the 256 values, treat the edge bins as tails, and their inverse-CDF samplers follow log_prob."""
import math

import pytest
import torch

from dgm.models.likelihoods import make_head

VALUES = torch.arange(256, dtype=torch.float64) / 255  # the 256 8-bit values as the models see them (k / 255)


def mixture_theta(logit_pi, mu, log_s):
    return torch.cat([torch.as_tensor(v, dtype=torch.float64) for v in (logit_pi, mu, log_s)])


def probabilities(head, theta):
    """P(k) for k = 0..255 of one value with parameters theta (P,)."""
    return head.log_prob_values(theta.expand(256, -1), VALUES).exp()


SETTINGS = {
    "centred": ([0.0, 1.0], [0.5, 0.2], [-3.0, -2.0]),
    "tiny scale, between bins": ([0.0, 0.0], [100.5 / 255, 0.3], [-9.0, -9.0]),  # clamped to min_log_scale
    "below the range": ([0.0, 0.0], [-0.3, -2.0], [-3.0, 0.0]),
    "above the range": ([0.0, 0.0], [1.2, 5.0], [-3.0, 0.5]),
    "wide": ([2.0, -1.0], [0.1, 0.9], [1.0, 2.0]),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_logistic_mixture_sums_to_one_over_the_256_values(setting):
    head = make_head("logistic_mixture", 3, mixtures=2)
    p = probabilities(head, mixture_theta(*SETTINGS[setting]))
    assert p.sum().item() == pytest.approx(1.0, abs=1e-4)
    assert (p >= 0).all()


def test_logistic_mixture_random_parameters_sum_to_one():
    g = torch.Generator().manual_seed(0)
    head = make_head("logistic_mixture", 3, mixtures=5)
    for _ in range(20):
        theta = torch.cat([torch.randn(5, generator=g), torch.rand(5, generator=g) * 1.4 - 0.2,
                           torch.rand(5, generator=g) * 8 - 7]).double()
        assert probabilities(head, theta).sum().item() == pytest.approx(1.0, abs=1e-4)


def test_logistic_edge_bins_are_the_tails():
    head = make_head("logistic_mixture", 3, mixtures=1)
    mu, s = 0.3, 0.25
    p = probabilities(head, mixture_theta([0.0], [mu], [math.log(s)]))
    def sig(v):
        return torch.sigmoid(torch.tensor(v, dtype=torch.float64))

    assert p[0].item() == pytest.approx(sig((0.5 / 255 - mu) / s).item(), rel=1e-9)
    assert p[255].item() == pytest.approx(1 - sig((254.5 / 255 - mu) / s).item(), rel=1e-9)
    mid = sig((100.5 / 255 - mu) / s) - sig((99.5 / 255 - mu) / s)
    assert p[100].item() == pytest.approx(mid.item(), rel=1e-9)
    far_below = probabilities(head, mixture_theta([0.0], [-1.0], [-4.0]))
    assert far_below[0].item() == pytest.approx(1.0, abs=1e-9) and far_below[255].item() < 1e-12


def test_categorical_sums_to_one_and_reads_k_over_255():
    head = make_head("categorical", 3)
    theta = torch.randn(256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = probabilities(head, theta)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-10)
    assert torch.allclose(p, theta.softmax(0))


@pytest.mark.parametrize("name,theta", [
    ("logistic_mixture", mixture_theta([0.5, -0.5], [0.3, 0.7], [-2.5, -3.5])),
    ("categorical", torch.randn(256, generator=torch.Generator().manual_seed(1), dtype=torch.float64)),
])
def test_inverse_cdf_sampler_follows_log_prob(name, theta):
    head = make_head(name, 3, mixtures=2)
    n = 200_000
    u = torch.rand(n, head.noise_dims, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    draws = head.quantile(theta.expand(n, -1), u)
    k = (draws * 255).round().long()
    assert torch.equal(k.double() / 255, draws)
    empirical = torch.bincount(k, minlength=256).double() / n
    assert 0.5 * (empirical - probabilities(head, theta)).abs().sum() < 0.02  # total variation


def test_bernoulli_quantile_and_full_layout_log_prob():
    bern = make_head("bernoulli", 3)
    theta = torch.tensor([[0.0], [2.0]])
    assert torch.equal(bern.quantile(theta, torch.tensor([[0.6], [0.8]])), torch.tensor([0.0, 1.0]))
    head = make_head("logistic_mixture", 3, mixtures=2)
    params = torch.randn(4, 6 * 3, 2, 2)  # (B, P*C, H, W), layout p * C + c
    x = torch.randint(0, 256, (4, 3, 2, 2)).float() / 255
    theta = params.view(4, 6, 3, 2, 2).permute(0, 2, 3, 4, 1)  # (B, C, H, W, P)
    by_value = head.log_prob_values(theta, x).flatten(1).sum(1)
    assert torch.allclose(head.log_prob(params, x), by_value)
    dist = head.distribution(params)
    assert dist.event_shape == (3, 2, 2)
    assert dist.sample(generator=torch.Generator().manual_seed(0)).shape == (4, 3, 2, 2)
