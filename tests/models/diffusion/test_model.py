"""The Diffusion model on tiny UNets: the UNet's shapes and its time and label inputs, the losses, classifier-free
guidance at scales 0 and 1, the full bound, binary data, and the samplers through ``sample``."""
import math

import pytest
import torch

from dgm.data.dataset import DatasetInfo
from dgm.errors import ConfigError
from dgm.models import Batch, create
from dgm.models.diffusion import Diffusion, NoiseSchedule, prior_kl
from dgm.nn.unet import UNet, timestep_embedding

MNIST = DatasetInfo(name="toy", split="train", shape=(1, 12, 12), num_classes=10)
TINY = dict(Diffusion.tiny)


def tiny(name: str = "ddpm", info: DatasetInfo = MNIST, **kw) -> Diffusion:
    torch.manual_seed(0)
    model = create(name, info, **{**TINY, **kw})
    for p in model.parameters():  # the zero-initialised output layers would hide every input
        if p.dim() > 1 and not p.abs().sum():
            torch.nn.init.normal_(p, std=0.5)
    return model.eval()


def test_timestep_embedding_is_the_sinusoid():
    e = timestep_embedding(torch.tensor([0, 3]), 6)
    freqs = [math.exp(-math.log(10_000) * k / 3) for k in range(3)]
    assert e.shape == (2, 6)
    assert torch.allclose(e[1], torch.tensor([math.cos(3 * f) for f in freqs] + [math.sin(3 * f) for f in freqs]))


@pytest.mark.parametrize("hw", [28, 32, 12])
def test_unet_keeps_the_image_size_and_reads_time_and_labels(hw):
    torch.manual_seed(0)
    net = UNet(1, 2, channels=8, channel_mult=(1, 2, 2), blocks=1, attention_levels=(2,), heads=2, num_classes=3).eval()
    for p in net.parameters():
        if not p.abs().sum():
            torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 1, hw, hw), torch.tensor([5, 5])
    out = net(x, t, torch.tensor([0, 0]))
    assert out.shape == (2, 2, hw, hw)
    assert not torch.allclose(out, net(x, torch.tensor([900, 900]), torch.tensor([0, 0])))  # time matters
    assert not torch.allclose(out, net(x, t, torch.tensor([1, 1])))  # so do labels
    assert not torch.allclose(out, net(x, t, None))  # None is the null label
    assert torch.allclose(net(x[:1], t[:1], torch.tensor([0])), out[:1], atol=1e-5)  # examples are independent


def test_a_fresh_unet_outputs_zero_so_training_starts_from_the_mean_prediction():
    net = UNet(1, 1, channels=8, channel_mult=(1, 2), blocks=1, attention_levels=(1,), heads=2)
    assert not net(torch.randn(2, 1, 8, 8), torch.tensor([1, 2])).abs().sum()


def test_simple_loss_is_the_mse_to_the_prediction_target_and_hybrid_adds_the_bound():
    model = tiny("ddpm")
    x = torch.rand(4, 1, 12, 12) * 2 - 1
    out = model.loss(Batch(x))
    assert set(out) == {"loss", "mse"} and out["loss"] == out["mse"]
    improved = tiny("improved-ddpm")
    out = improved.loss(Batch(x))
    assert set(out) == {"loss", "mse", "vlb_bpd"}
    assert out["loss"].item() == pytest.approx(out["mse"].item() + 0.001 * out["vlb_bpd"].item(), rel=1e-5)


def test_the_hybrid_bound_term_reaches_only_the_variance_channels():
    model = tiny("improved-ddpm", vlb_weight=1.0)
    x = torch.rand(4, 1, 12, 12) * 2 - 1
    torch.manual_seed(1)
    t, noise = torch.randint(0, 20, (4,)), torch.randn_like(x)
    out = model.net(model.schedule.q_sample(x, t, noise), t)
    out.retain_grad()
    model.predict = lambda xt, tt, labels=None: out  # the same output, to read its gradient
    terms = model.terms(x, t, noise, None, vlb=True)
    terms["vlb_t"].sum().backward()
    assert not out.grad[:, :1].abs().sum() and out.grad[:, 1:].abs().sum() > 0


def test_guidance_scale_0_is_the_unconditional_and_1_the_conditional_prediction():
    model = tiny("ddpm-cfg")
    x, t, y = torch.randn(3, 1, 12, 12), torch.tensor([3, 3, 3]), torch.tensor([1, 2, 3])
    uncond, cond = model.predict(x, t, None), model.predict(x, t, y)
    assert (cond - uncond).abs().max() > 1e-2  # the labels matter, so the scales below are told apart
    assert torch.allclose(model.guided(y, 0.0, False)(x, t), uncond)
    assert torch.allclose(model.guided(y, 1.0, False)(x, t), cond)
    assert torch.allclose(model.guided(y, 3.0, False)(x, t), uncond + 3 * (cond - uncond), atol=1e-6)
    with pytest.raises(ConfigError, match="conditional"):
        tiny("ddpm").guided(None, 2.0, False)


def test_training_drops_labels_to_the_null_label_at_the_configured_rate():
    model = tiny("ddpm-cfg", label_dropout=0.5)
    seen = []
    model.predict = lambda xt, t, labels=None: seen.append(labels) or torch.zeros_like(xt)
    model.loss(Batch(torch.zeros(2000, 1, 12, 12), torch.zeros(2000, dtype=torch.long)))
    assert (seen[0] == 10).float().mean().item() == pytest.approx(0.5, abs=0.05)  # 10 = the null label


def test_elbo_is_a_finite_bound_of_every_step_and_refuses_k():
    model = tiny("improved-ddpm")
    x = (torch.randint(0, 256, (3, 1, 12, 12)) / 127.5 - 1)
    calls = []
    net = model.net.forward
    model.net.forward = lambda *a: calls.append(1) or net(*a)
    elbo = model.elbo(x)
    assert elbo.shape == (3,) and bool(torch.isfinite(elbo).all()) and bool((elbo < 0).all())
    assert len(calls) == model.config.steps
    with pytest.raises(ConfigError, match="k=1"):
        model.elbo(x, k=5)


def test_elbo_is_minus_the_prior_term_and_every_steps_term():
    model = tiny("improved-ddpm")
    model.schedule = NoiseSchedule(torch.full((20,), 0.01, dtype=torch.float64))  # alpha-bar_T 0.82: a large prior term
    x = (torch.randint(0, 256, (2, 1, 12, 12)) / 127.5 - 1)
    torch.manual_seed(5)
    elbo = model.elbo(x)
    torch.manual_seed(5)
    terms = sum(model.terms(x, torch.full((2,), t), torch.randn_like(x), None, vlb=True)["vlb_t"]
                for t in range(model.config.steps))
    prior = prior_kl(model.schedule, x.double()).float()
    assert prior.min() > 10 and torch.allclose(elbo, -(prior + terms), rtol=1e-5)
    # the prior term is summed over dimensions: each pixel's KL(N(a x, 1 - a^2) || N(0, 1))
    ab = model.schedule.alphas_cumprod[-1]
    per_pixel = 0.5 * (ab * x.double() ** 2 + (1 - ab) - torch.log(1 - ab) - 1)
    assert torch.allclose(prior.double(), per_pixel.flatten(1).sum(1), rtol=1e-5)


def test_binary_data_is_two_levels_at_minus_one_and_one():
    info = DatasetInfo(name="binary", split="train", shape=(1, 12, 12), kind="binary")
    model = tiny("ddpm", info)
    assert model.levels == 2
    assert model.prepare(torch.tensor([[[[0, 1]]]], dtype=torch.uint8)).tolist() == [[[[-1.0, 1.0]]]]


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm-solver++"])
def test_sample_gives_images_in_range_and_one_seed_the_same_images(sampler):
    model = tiny("improved-ddpm-cfg")
    a = model.sample(3, sampler=sampler, steps=4, generator=torch.Generator().manual_seed(0), guidance=2.0)
    b = model.sample(3, sampler=sampler, steps=4, generator=torch.Generator().manual_seed(0), guidance=2.0)
    assert a.shape == (3, 1, 12, 12) and 0 <= a.min() and a.max() <= 1 and torch.equal(a, b)


def test_bad_diffusion_settings_are_refused():
    with pytest.raises(ConfigError, match="learned-range"):
        tiny("ddpm", loss="hybrid")
    with pytest.raises(ConfigError, match="sample_steps"):
        tiny("ddpm", sample_steps=50)  # the tiny diffusion has 20 steps
    with pytest.raises(ConfigError, match="choose one of"):
        tiny("ddpm").sample(2, sampler="euler")
    with pytest.raises(ConfigError, match="labelled"):
        tiny("ddpm-cfg", DatasetInfo(name="x", split="train", shape=(1, 12, 12)))


def test_the_unet_runs_channels_last_and_under_bf16_autocast():
    model = tiny("improved-ddpm")
    x, t = torch.randn(2, 1, 12, 12), torch.tensor([3, 17])
    want = model.predict(x, t)
    model.to(memory_format=torch.channels_last)
    got = model.predict(x.contiguous(memory_format=torch.channels_last), t)
    assert torch.allclose(got, want, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.predict(x.contiguous(memory_format=torch.channels_last), t)
    assert low.dtype == torch.bfloat16
    assert (low.float() - want).norm() / want.norm() < 0.05
    loss = model.train().loss(Batch(x))["loss"]
    assert torch.isfinite(loss)


def test_sample_semantics_name_the_sampler_and_steps():
    assert tiny("ddpm").sample_semantics({}) == "draws (ddim, 5 steps)"
    assert tiny("ddpm").sample_semantics({"sampler": "ddpm"}) == "draws (ddpm, 20 steps)"
    assert tiny("ddpm-cfg").sample_semantics({"sampler": "ddim", "steps": 3, "eta": 1.0, "guidance": 2.0}) == \
        "draws (ddim, 3 steps, eta 1, guidance 2)"


@pytest.mark.parametrize("name,ends", [("ddpm", (-1.0, 1.0)), ("dcgan", (-1.0, 1.0)), ("vae", (0.0, 1.0))])
def test_stored_binary_data_maps_to_the_ends_of_every_models_range(name, ends):
    """base prepare: 0/1 storage is read as 0/255 by the unit and symmetric transforms (and kept by binary)."""
    info = DatasetInfo(name="binary", split="train", shape=(1, 28, 28), kind="binary")
    model = create(name, info)
    x = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    x[1] = 1
    out = model.prepare(x, torch.Generator().manual_seed(0), train=False)
    assert out[0].unique().tolist() == [ends[0]] and out[1].unique().tolist() == [ends[1]]


def test_the_stratified_bound_is_unbiased_and_costs_one_pass_per_stratum_plus_the_decoder():
    model = tiny("improved-ddpm")  # T = 20
    x = torch.zeros(4000, 1, 12, 12)
    seen = []

    def fake_terms(x0, t, noise, labels, vlb=False):  # L_t = (t + 1)^2, whatever the noise
        seen.append(t.clone())
        return {"vlb_t": (t.float() + 1) ** 2}
    model.terms = fake_terms
    prior = prior_kl(model.schedule, x[:1].double()).float()
    exact = -(prior + sum((t + 1) ** 2 for t in range(20)))
    assert torch.allclose(model.elbo(x[:2]), exact.expand(2)) and len(seen) == 20
    seen.clear()
    estimate = model.elbo(x, terms=4, generator=torch.Generator().manual_seed(0))
    assert len(seen) == 5 and bool((seen[0] == 0).all())  # L_0 exactly, then one step per stratum
    assert [int(s.min()) for s in seen[1:]] == [1, 6, 11, 15] and [int(s.max()) for s in seen[1:]] == [5, 10, 14, 19]
    assert estimate.mean().item() == pytest.approx(exact.item(), rel=0.01)  # unbiased: the mean over examples
    assert estimate.std() > 0  # and an estimate, not the sum
    assert torch.allclose(model.elbo(x[:2], terms=19), exact.expand(2))  # one step per stratum: the sum itself
    assert "stratified" in model.bound_semantics({"terms": 4}) and "every one of the 20" in model.bound_semantics({})
    with pytest.raises(ConfigError, match="terms"):
        model.elbo(x[:2], terms=0)
