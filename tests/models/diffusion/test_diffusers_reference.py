"""The schedule and the DDPM and DDIM steps against diffusers' DDPMScheduler and DDIMScheduler (test-only
dependency): the same betas, the same inputs, step by step, to 1e-6. diffusers keeps alpha-bar in float32;
the steps are compared with both given dgm's float64 alpha-bars, and the alpha-bars to float32 precision."""
import pytest
import torch

from dgm.models.diffusion import NoiseSchedule, ddim_step, reverse_step, spaced_timesteps
from dgm.models.diffusion.parameterization import to_x0_eps
from dgm.models.diffusion.samplers import ddpm_step

diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # diffusers' NumPy 2 notice

T = 1000
PREDICTIONS = {"epsilon": "epsilon", "x0": "sample", "v": "v_prediction"}


def reference(cls, kind: str, prediction: str, **kw):
    sched = NoiseSchedule.named(kind, T)
    ref = cls(num_train_timesteps=T, trained_betas=sched.betas.numpy(), prediction_type=PREDICTIONS[prediction],
              **kw)
    assert torch.allclose(ref.alphas_cumprod.double(), sched.alphas_cumprod, rtol=2e-5)
    ref.alphas_cumprod = sched.alphas_cumprod.clone()  # both sides from the same float64 alpha-bars
    return sched, ref


def inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 1, 6, 6, generator=g, dtype=torch.float64) for _ in range(3)]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", list(PREDICTIONS))
@pytest.mark.parametrize("clip", [False, True])
def test_ddpm_step_equals_diffusers_ddpm_scheduler(kind, prediction, clip):
    sched, ref = reference(diffusers.DDPMScheduler, kind, prediction, variance_type="fixed_small", clip_sample=clip)
    for t in (999, 500, 10, 1, 0):
        x, out, z = inputs(t)
        g = torch.Generator().manual_seed(t)
        want = ref.step(out, t, x, generator=g).prev_sample
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(t), dtype=x.dtype)  # diffusers' draw
        got = ddpm_step(sched, out, x, t, prediction, "fixed-small", clip, z)
        assert torch.allclose(got, want, atol=1e-6, rtol=0), (t, (got - want).abs().max())


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", list(PREDICTIONS))
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_equals_diffusers_ddim_scheduler(kind, prediction, eta):
    sched, ref = reference(diffusers.DDIMScheduler, kind, prediction, clip_sample=False, set_alpha_to_one=True)
    ref.set_timesteps(50)
    short = sched.respace(sorted(int(t) for t in ref.timesteps))
    for i in range(short.num_steps - 1, -1, -1):
        t = int(short.timesteps[i])
        x, out, z = inputs(t)
        want = ref.step(out, t, x, eta=eta, variance_noise=z).prev_sample
        idx = torch.full((4,), i)
        a = short.gather(short.sqrt_alphas_cumprod, idx, x)
        s = short.gather(short.sqrt_one_minus_alphas_cumprod, idx, x)
        x0, eps = to_x0_eps(prediction, out, x, a, s)
        got = ddim_step(x0, eps, short.gather(short.alphas_cumprod, idx, x),
                        short.gather(short.alphas_cumprod_prev, idx, x), eta, z)
        assert torch.allclose(got, want, atol=1e-6, rtol=0), (t, (got - want).abs().max())


def test_the_clipped_ddim_step_equals_diffusers_with_the_clipped_model_output():
    """dgm re-derives the noise from the clipped x0 (as improved DDPM and GLIDE); diffusers does on request."""
    from dgm.models.diffusion import ddim_sample

    sched, ref = reference(diffusers.DDIMScheduler, "linear", "epsilon", clip_sample=True, set_alpha_to_one=True)
    ref.set_timesteps(20)
    short = sched.respace(sorted(int(t) for t in ref.timesteps))
    net = lambda x, t: 3 * x + t.double().view(-1, 1, 1, 1) / 500  # noqa: E731  (x0-hat leaves [-1, 1])
    x_T = inputs(0)[0]
    got = ddim_sample(net, short, x_T.shape, eta=0.0, clip_x0=True, x_T=x_T.clone())
    x = x_T.clone()
    for t in ref.timesteps:
        x = ref.step(net(x, torch.full((4,), int(t))), int(t), x, eta=0.0, use_clipped_model_output=True).prev_sample
    assert torch.allclose(got, x, atol=1e-6, rtol=0)


def test_ddim_with_eta_1_at_every_step_has_the_ddpm_posterior_variance():
    sched = NoiseSchedule.named("cosine", 100)
    x0, eps, z = inputs(3)
    for i in (1, 50, 99):
        ac, prev = sched.alphas_cumprod[i], sched.alphas_cumprod_prev[i]
        noisy = ddim_step(x0, eps, ac, prev, 1.0, z) - ddim_step(x0, eps, ac, prev, 1.0, torch.zeros_like(z))
        assert torch.allclose(noisy / z, sched.posterior_variance[i].sqrt().expand_as(z), rtol=1e-9)
        # and its mean is the DDPM posterior mean at the same x0 (x_t rebuilt from x0 and eps)
        xt = ac.sqrt() * x0 + (1 - ac).sqrt() * eps
        mean, _, _ = sched.q_posterior(x0, xt, torch.full((4,), i))
        assert torch.allclose(ddim_step(x0, eps, ac, prev, 1.0, torch.zeros_like(z)), mean, atol=1e-12)


def test_reverse_step_fixed_large_variance_is_beta():
    sched = NoiseSchedule.named("linear", 1000)
    x, out, _ = inputs(1)
    step = reverse_step(sched, out, x, torch.full((4,), 500), "epsilon", "fixed-large")
    assert torch.allclose(step.variance.flatten(), sched.betas[500].expand(4), rtol=1e-12)
    assert spaced_timesteps(1000, 2) == [0, 999]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", list(PREDICTIONS))
@pytest.mark.parametrize("steps", [10, 25])
def test_dpm_solver_2m_equals_diffusers_multistep_dpm_solver_pp(kind, prediction, steps):
    """The whole trajectory on diffusers' timesteps (the last step to sigma = 0 is its x0, as dgm's), with
    diffusers' sigmas recomputed in float64 (it rounds them to float32, which at t = T-1 of the cosine schedule,
    alpha = 5e-5, moves x0-hat by 1e-3)."""
    from dgm.models.diffusion import dpm_solver_2m_sample

    sched, ref = reference(diffusers.DPMSolverMultistepScheduler, kind, prediction, algorithm_type="dpmsolver++",
                           solver_order=2)
    ref.set_timesteps(steps)
    ts = [int(t) for t in ref.timesteps]
    ac = sched.alphas_cumprod[ts]
    ref.sigmas = torch.cat([((1 - ac) / ac).sqrt(), torch.zeros(1, dtype=torch.float64)])
    net = lambda x, t: torch.tanh(x) / 2 + t.double().view(-1, 1, 1, 1) / 2000  # noqa: E731
    if prediction == "epsilon":  # an arbitrary epsilon makes x0-hat 1e4 (divided by alpha = 5e-5 at t = T-1) and
        # the second-order step cancels digits of such x0-hats: use N(0, 0.5^2) data's optimal noise, x0-hat O(1)
        def net(x, t):
            ab = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
            return (1 - ab).sqrt() * x / (ab * 0.25 + 1 - ab) + ab.sqrt() * torch.tanh(x) / 10  # x0-hat O(1)
    x_T = inputs(7)[0]
    x = x_T.clone()
    for t in ref.timesteps:
        x = ref.step(net(x, torch.full((4,), int(t))), t, x).prev_sample
    got = dpm_solver_2m_sample(net, sched.respace(sorted(ts)), x_T.shape, prediction=prediction, clip_x0=False,
                               x_T=x_T.clone())
    assert torch.allclose(got, x, atol=1e-6, rtol=0), (got - x).abs().max()
