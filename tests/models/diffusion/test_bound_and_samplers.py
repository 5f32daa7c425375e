"""The prediction conversions, the variational bound's terms, and the samplers end to end on 1-D Gaussian data,
whose optimal denoiser and NLL are closed forms: the bound approaches the true NLL as T grows, and every
sampler driven by the optimal denoiser draws the data distribution."""
import math

import pytest
import torch
from scipy import stats

from dgm.errors import ConfigError
from dgm.models.diffusion import (NoiseSchedule, ddim_sample, ddpm_sample, discretized_gaussian_log_likelihood,
                                  dpm_solver_2m_sample, normal_kl, prior_kl, reverse_step, target, to_x0_eps,
                                  vlb_term)

F64 = torch.float64
DATA_STD = 0.3  # the 1-D data: N(0, 0.3^2) on a fine grid of [-1, 1]


@pytest.mark.parametrize("kind", ["epsilon", "x0", "v"])
def test_each_prediction_converts_back_to_x0_and_the_noise_exactly(kind):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(5, 3, generator=g, dtype=F64)
    ab = torch.rand(5, 1, generator=g, dtype=F64) * 0.98 + 0.01
    a, s = ab.sqrt(), (1 - ab).sqrt()
    xt = a * x0 + s * eps
    x0_hat, eps_hat = to_x0_eps(kind, target(kind, x0, eps, a, s), xt, a, s)
    assert torch.allclose(x0_hat, x0, atol=1e-12) and torch.allclose(eps_hat, eps, atol=1e-12)
    with pytest.raises(ConfigError, match="epsilon, x0, v"):
        target("score", x0, eps, a, s)


def test_discretized_gaussian_matches_scipy_and_sums_to_one_over_the_256_values():
    values = torch.linspace(-1, 1, 256, dtype=F64)
    for mean, scale in ((0.1, 0.05), (-0.95, 0.01), (0.99, 0.3), (0.0, 1e-4)):
        logp = discretized_gaussian_log_likelihood(values, torch.tensor(mean, dtype=F64),
                                                   torch.tensor(math.log(scale), dtype=F64))
        assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)
        edges = torch.cat([torch.tensor([-math.inf]), (values[:-1] + values[1:]) / 2, torch.tensor([math.inf])])
        want = torch.from_numpy(stats.norm.cdf(edges[1:].numpy(), mean, scale)
                                - stats.norm.cdf(edges[:-1].numpy(), mean, scale))
        far = want > 1e-8  # scipy's difference of two CDFs loses the digits of far-tail bins; dgm's does not
        assert torch.allclose(logp[far], want[far].log(), rtol=1e-6, atol=1e-9)


def test_every_vlb_term_and_the_prior_term_are_non_negative():
    sched = NoiseSchedule.named("cosine", 50)
    g = torch.Generator().manual_seed(1)
    x0 = (torch.randint(0, 256, (64, 1, 4, 4), generator=g) / 127.5 - 1).double()
    t = torch.randint(0, 50, (64,), generator=g)
    t[:4] = 0  # the decoder term
    xt = sched.q_sample(x0, t, torch.randn(x0.shape, generator=g, dtype=F64))
    for variance, channels in (("fixed-small", 1), ("fixed-large", 1), ("learned-range", 2)):
        out = torch.randn(64, channels, 4, 4, generator=g, dtype=F64)
        terms = vlb_term(sched, reverse_step(sched, out, xt, t, "epsilon", variance), x0, xt, t)
        assert terms.shape == (64,) and bool((terms >= 0).all()) and (t == 0).any()
    assert bool((prior_kl(sched, x0) >= 0).all())
    assert torch.allclose(normal_kl(x0, x0 * 0, x0, x0 * 0), torch.zeros_like(x0))


def optimal_eps(sched: NoiseSchedule):
    """The exact E[eps | x_t] of N(0, DATA_STD^2) data: x_t ~ N(0, a^2 v + s^2), eps | x_t linear in x_t."""
    def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        idx = torch.searchsorted(sched.timesteps, t)
        ab = sched.gather(sched.alphas_cumprod, idx, x)
        return (1 - ab).sqrt() * x / (ab * DATA_STD ** 2 + 1 - ab)
    return predict


def grid_data(n: int, levels: int, seed: int) -> torch.Tensor:
    x = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=F64) * DATA_STD
    return ((x.clamp(-1, 1) + 1) / 2 * (levels - 1)).round() / (levels - 1) * 2 - 1


def exact_reverse_v(sched: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The learned-range output that gives the true reverse variance of N(0, DATA_STD^2) data,
    beta-tilde_t + coef1_t^2 Var(x_0 | x_t) (a log-interpolation between beta-tilde_t and beta_t)."""
    ab = sched.gather(sched.alphas_cumprod, t, xt)
    var_x0 = DATA_STD ** 2 * (1 - ab) / (ab * DATA_STD ** 2 + 1 - ab)
    true = sched.gather(sched.posterior_variance, t, xt) + sched.gather(sched.posterior_mean_coef1, t, xt) ** 2 * var_x0
    small = sched.gather(sched.posterior_log_variance_clipped, t, xt)
    large = sched.gather(torch.log(sched.betas), t, xt)
    return 2 * (true.log() - small) / (large - small) - 1


def expected_gap(steps: int, variance: str, n: int = 20_000, levels: int = 2 ** 16) -> float:
    """Mean (-VLB - true NLL) in nats over n grid points of the data, with the optimal denoiser's mean and the
    given variance; the same x_0 for every T."""
    sched = NoiseSchedule.named("linear", steps)
    x0 = grid_data(n, levels, seed=0)
    g = torch.Generator().manual_seed(1)
    predict = optimal_eps(sched)
    total = prior_kl(sched, x0)
    for t_i in range(steps):
        t = torch.full((n,), t_i)
        xt = sched.q_sample(x0, t, torch.randn(x0.shape, generator=g, dtype=F64))
        out = predict(xt, t)
        if variance == "learned-range":
            out = torch.cat([out, exact_reverse_v(sched, xt, t)], 1)
        total = total + vlb_term(sched, reverse_step(sched, out, xt, t, "epsilon", variance), x0, xt, t, levels)
    true = -discretized_gaussian_log_likelihood(x0, torch.zeros_like(x0), torch.full_like(x0, math.log(DATA_STD)),
                                                levels).sum(1)
    return (total - true).mean().item()


def test_with_the_true_reverse_kernels_the_bound_is_the_nll():
    """Gaussian data's reverse kernels are Gaussian: the optimal mean and the learned-range variance set to the
    true one make p(x_{0:T}) = q(x_{0:T}) but for p(x_T), so -VLB equals the NLL at every T."""
    for steps in (10, 50, 200):
        assert abs(expected_gap(steps, "learned-range")) < 0.01, steps  # Monte Carlo noise: about 0.003


def test_with_fixed_variances_the_bound_stays_above_the_nll_and_tightens_as_t_grows():
    """beta-tilde_t leaves out coef1_t^2 Var(x_0 | x_t): near t = 0 that is about beta-tilde_t / t for smooth
    data whatever T (linear betas scale with 1000 / T), so the gap shrinks with T towards ~0.4 nats, not 0."""
    gaps = [expected_gap(steps, "fixed-small", n=2000) for steps in (10, 100, 1000)]
    assert gaps[0] > gaps[1] > gaps[2] > 0.2, gaps


def test_ancestral_sampling_with_the_optimal_denoiser_draws_the_data_distribution():
    sched = NoiseSchedule.named("linear", 1000)
    x = ddpm_sample(optimal_eps(sched), sched, (8000, 1), generator=torch.Generator().manual_seed(2), dtype=F64,
                    clip_x0=False)
    assert abs(x.mean().item()) < 0.015 and x.std().item() == pytest.approx(DATA_STD, rel=0.03)
    ddim = ddim_sample(optimal_eps(sched), sched, (8000, 1), eta=1.0, dtype=F64, clip_x0=False,
                       generator=torch.Generator().manual_seed(2))
    assert ddim.std().item() == pytest.approx(DATA_STD, rel=0.03)


def gain(sample, kind: str, steps: int) -> float:
    """x_0 / x_T of a deterministic sampler driven by the optimal (linear) denoiser: the data std it draws."""
    sched = NoiseSchedule.named(kind, 1000).spaced(steps)
    return sample(optimal_eps(sched), sched, (1, 1), x_T=torch.ones(1, 1, dtype=F64), clip_x0=False).item()


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_deterministic_samplers_converge_to_the_probability_flow_and_dpm_solver_faster(kind):
    """The probability-flow ODE maps N(0, 1) onto the data's N(0, DATA_STD^2): both solvers' gains converge to
    DATA_STD as steps grow, DDIM (first order) from below, DPM-Solver++(2M) with a smaller error at equal steps."""
    ddim = {s: gain(ddim_sample, kind, s) for s in (50, 100, 1000)}
    dpm = {s: gain(dpm_solver_2m_sample, kind, s) for s in (50, 100, 1000)}
    err = lambda g: abs(g - DATA_STD)  # noqa: E731
    assert err(ddim[50]) > err(ddim[100]) > err(ddim[1000]) and err(ddim[1000]) < 0.002
    assert err(dpm[50]) > err(dpm[100]) > err(dpm[1000]) and err(dpm[1000]) < 2e-4
    assert err(dpm[100]) < err(ddim[100]) and err(dpm[1000]) < err(ddim[1000])


def test_ddim_with_eta_0_is_deterministic_given_x_T_and_dpm_solver_too():
    sched = NoiseSchedule.named("cosine", 1000).spaced(25)
    x_T = torch.randn(8, 1, generator=torch.Generator().manual_seed(3), dtype=F64)
    for sample in (ddim_sample, dpm_solver_2m_sample):
        a = sample(optimal_eps(sched), sched, x_T.shape, x_T=x_T.clone(), generator=torch.Generator().manual_seed(4))
        b = sample(optimal_eps(sched), sched, x_T.shape, x_T=x_T.clone(), generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, b)
