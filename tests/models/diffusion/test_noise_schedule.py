"""Noise schedules against their closed forms: betas, q(x_t | x_0) by Monte Carlo, the posterior
q(x_{t-1} | x_t, x_0) against Gaussian conditioning done independently, and respacing."""
import math

import pytest
import torch

from dgm.errors import ConfigError
from dgm.models.diffusion import NoiseSchedule, cosine_betas, linear_betas, spaced_timesteps


def test_linear_betas_are_ho_et_al_at_1000_steps_and_scale_with_fewer():
    b = linear_betas(1000)
    assert b.dtype == torch.float64 and len(b) == 1000
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    assert linear_betas(100)[0].item() == pytest.approx(1e-3) and linear_betas(100)[-1].item() == pytest.approx(0.2)


def test_cosine_alpha_bar_is_the_squared_cosine_until_the_clip():
    T, s = 1000, 0.008
    ac = NoiseSchedule(cosine_betas(T)).alphas_cumprod
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 1, 10, 500, 900):
        assert ac[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-10)
    assert cosine_betas(T).max().item() == pytest.approx(0.999)  # the last step is clipped


def test_q_sample_has_the_forward_process_mean_and_variance_by_monte_carlo():
    sched = NoiseSchedule.named("linear", 1000)
    g = torch.Generator().manual_seed(0)
    n, x0 = 200_000, torch.tensor([0.7, -0.3], dtype=torch.float64)
    for t_i in (0, 250, 999):
        t = torch.full((n,), t_i)
        xt = sched.q_sample(x0.expand(n, 2), t, torch.randn(n, 2, generator=g, dtype=torch.float64))
        ab = sched.alphas_cumprod[t_i].item()
        assert torch.allclose(xt.mean(0), math.sqrt(ab) * x0, atol=4 * math.sqrt((1 - ab) / n))
        assert torch.allclose(xt.var(0), torch.full((2,), 1 - ab, dtype=torch.float64), rtol=0.015)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_posterior_is_the_gaussian_conditional_of_the_forward_process(kind):
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0): precisions add, means weight by precision."""
    sched = NoiseSchedule.named(kind, 200)
    x0, xt = torch.tensor([[0.5]], dtype=torch.float64), torch.tensor([[-0.2]], dtype=torch.float64)
    for t_i in (1, 7, 100, 199):
        beta, ab_prev = sched.betas[t_i].item(), sched.alphas_cumprod[t_i - 1].item()
        precision = 1 / (1 - ab_prev) + (1 - beta) / beta
        mean = (math.sqrt(ab_prev) * 0.5 / (1 - ab_prev) + math.sqrt(1 - beta) * -0.2 / beta) / precision
        m, v, logv = sched.q_posterior(x0, xt, torch.tensor([t_i]))
        assert m.item() == pytest.approx(mean, rel=1e-10)
        assert v.item() == pytest.approx(1 / precision, rel=1e-10) and logv.exp().item() == pytest.approx(v.item())
    _, v0, logv0 = sched.q_posterior(x0, xt, torch.tensor([0]))
    assert v0.item() == 0 and logv0.item() == pytest.approx(math.log(sched.posterior_variance[1].item()))


def test_respacing_keeps_alpha_bar_at_the_kept_steps():
    sched = NoiseSchedule.named("cosine", 1000)
    keep = spaced_timesteps(1000, 50)
    assert len(keep) == 50 and keep[0] == 0 and keep[-1] == 999
    short = sched.respace(keep)
    assert torch.allclose(short.alphas_cumprod, sched.alphas_cumprod[keep], rtol=1e-12)
    assert short.timesteps.tolist() == keep and short.alphas_cumprod_prev[0].item() == 1
    assert sched.spaced(1000) is sched and spaced_timesteps(10, 1) == [9]
    assert spaced_timesteps(7, 7) == list(range(7))


def test_bad_schedules_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="linear, cosine"):
        NoiseSchedule.named("quadratic", 10)
    with pytest.raises(ConfigError, match="1..10"):
        spaced_timesteps(10, 11)
    with pytest.raises(ConfigError, match="ascending"):
        NoiseSchedule.named("linear", 10).respace([3, 2])
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        NoiseSchedule(torch.tensor([0.1, 0.0]))
