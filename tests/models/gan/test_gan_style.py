"""StyleGAN2's parts: modulated / demodulated convolution against the paper's per-sample weights, demodulation's
unit output variance, path lengths against finite differences, the running-mean penalty, truncation in W and
style mixing."""
import math

import pytest
import torch
import torch.nn.functional as F

from dgm.models import Batch
from dgm.models.gan.regularisers import path_lengths
from dgm.nn.modulated import ModulatedConv2d


def per_sample_conv(conv, x, w):
    """The paper's definition: each sample convolved with its own modulated (and demodulated) weights."""
    s = conv.styles(w)
    outs = []
    for i in range(x.shape[0]):
        weight = conv.weight * conv.scale * s[i][None, :, None, None]
        if conv.demodulate:
            weight = weight / (weight.pow(2).sum((1, 2, 3), keepdim=True) + 1e-8).sqrt()
        xi = F.interpolate(x[i:i + 1], scale_factor=2, mode="bilinear", align_corners=False) if conv.up else x[i:i + 1]
        outs.append(F.conv2d(xi, weight, padding=conv.padding))
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate, up", [(True, False), (False, False), (True, True)])
def test_modulated_conv_equals_per_sample_weights(demodulate, up):
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 5, 3, 4, demodulate=demodulate, up=up)
    torch.nn.init.normal_(conv.affine.weight)  # styles that differ per sample and channel
    x, w = torch.randn(3, 6, 8, 8), torch.randn(3, 4)
    torch.testing.assert_close(conv(x, w), per_sample_conv(conv, x, w), rtol=1e-4, atol=1e-5)


def test_demodulation_keeps_unit_variance():
    """For i.i.d. unit-variance inputs each output pixel (away from the zero padding) has variance
    sum_ik w''^2 = 1, whatever the style (Monte Carlo over 20k inputs)."""
    torch.manual_seed(1)
    conv = ModulatedConv2d(8, 4, 3, 4)
    torch.nn.init.normal_(conv.affine.weight, std=3.0)
    w = torch.randn(1, 4).expand(20_000, -1)
    out = conv(torch.randn(20_000, 8, 3, 3), w)[:, :, 1, 1]  # the centre pixel sees no padding
    torch.testing.assert_close(out.var(0), torch.ones(4), rtol=0.05, atol=0.0)
    plain = ModulatedConv2d(8, 4, 3, 4, demodulate=False)
    torch.nn.init.normal_(plain.affine.weight, std=3.0)
    assert not torch.allclose(plain(torch.randn(20_000, 8, 3, 3), w)[:, :, 1, 1].var(0), torch.ones(4), rtol=0.2)


def test_modulation_with_unit_styles_is_a_plain_conv():
    torch.manual_seed(2)
    conv = ModulatedConv2d(6, 5, 3, 4, demodulate=False)
    torch.nn.init.zeros_(conv.affine.weight)  # s = A(w) = its bias, 1 at the start
    x = torch.randn(2, 6, 7, 7)
    torch.testing.assert_close(conv(x, torch.randn(2, 4)), F.conv2d(x, conv.weight * conv.scale, padding=1))


@pytest.fixture
def style_gan(mnist64, tiny_gan):
    model = tiny_gan("stylegan2", mnist64.info)
    for m in model.generator.modules():  # some noise so that "ignores the noise" bugs show
        if hasattr(m, "strength"):
            torch.nn.init.constant_(m.strength, 0.0)
    return model


def test_path_lengths_against_finite_differences(style_gan):
    g = style_gan.generator.eval().double()
    torch.manual_seed(3)
    ws = g.broadcast(g.map(torch.randn(2, 8, dtype=torch.float64))).detach().requires_grad_(True)
    y = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    got = path_lengths(g.synthesis, ws, y)
    eps, grad = 1e-6, torch.zeros_like(ws)
    with torch.no_grad():
        for idx in range(ws[0].numel()):  # d <g(ws_b), y_b> / d ws_b[idx] by central differences, both samples
            e = torch.zeros_like(ws).view(2, -1)
            e[:, idx] = eps
            e = e.view_as(ws)
            grad.view(2, -1)[:, idx] = ((g.synthesis(ws + e) - g.synthesis(ws - e)) * y).flatten(1).sum(1) / (2 * eps)
    want = grad.pow(2).sum(2).mean(1).sqrt()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-8)


def test_path_length_penalty_tracks_its_running_mean(style_gan, mnist64):
    model = style_gan
    model.train()
    term = model.regularisers["path_length"]
    assert (term.settings.weight, term.settings.every) == (2.0, 4)
    x = model.prepare(mnist64.data[:16])
    means = [float(term.mean)]
    for step in (0, 4, 8):
        out = model.loss(Batch(x, None, step=step), "generator")
        assert float(out["path_length"]) > 0
        means.append(float(term.mean))
    assert means[0] == 0.0 and means[1] > 0 and len(set(means)) == 4  # lerp towards the batch's mean length
    assert "path_length" not in model.loss(Batch(x, None, step=5), "generator")  # lazy: every 4th step
    model.eval()
    model.loss(Batch(x, None, step=12), "generator")
    assert float(term.mean) == means[-1]  # evaluation leaves the running mean alone


def test_path_length_needs_a_style_generator(mnist64, tiny_gan):
    from dgm.errors import ConfigError

    with pytest.raises(ConfigError, match="needs a style-based generator"):
        tiny_gan("dcgan", mnist64.info, **{"regularisers.path_length.weight": 2.0})


def test_truncation_in_w(style_gan):
    model = style_gan.eval()
    g = model.generator
    with torch.no_grad():
        g.w_avg.normal_()
    seed = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    plain, _ = model.sample_with_latents(4, generator=seed())
    same, lat = model.sample_with_latents(4, generator=seed(), truncation=1.0)
    assert lat.psi == 1.0
    torch.testing.assert_close(same, plain)  # psi = 1: the identity
    mean_only, _ = model.sample_with_latents(4, generator=seed(), truncation=1e-9)
    torch.testing.assert_close(mean_only, mean_only[:1].expand_as(mean_only), rtol=0, atol=1e-5)  # psi -> 0: w_avg
    torch.testing.assert_close(g.truncate(torch.ones(2, 8), 0.0), g.w_avg.expand(2, -1))


def test_style_mixing_crossover(style_gan):
    g = style_gan.generator.eval()
    torch.manual_seed(6)
    a, b = g.map(torch.randn(3, 8)), g.map(torch.randn(3, 8))
    ws = g.broadcast(a)
    torch.testing.assert_close(g.mix(ws, b, 0), g.broadcast(b))  # crossover 0: the other source only
    torch.testing.assert_close(g.mix(ws, b, g.num_ws), ws)  # crossover L: one source only
    mixed = g.mix(ws, b, 2)
    assert torch.equal(mixed[:, :2], ws[:, :2]) and torch.equal(mixed[:, 2:], g.broadcast(b)[:, 2:])


def test_training_tracks_w_avg_and_mixes_styles(style_gan):
    g = style_gan.generator
    calls = []
    g.mapping.register_forward_hook(lambda *a: calls.append(1))
    g.train()
    z = torch.randn(64, 8)
    g.mixing = 0.0
    g(z)
    assert len(calls) == 1
    torch.testing.assert_close(g.w_avg, (1 - g.w_avg_beta) * g.mapping(z).mean(0), rtol=1e-4, atol=1e-6)
    g.mixing, calls[:] = 1.0, []
    g(z)
    assert len(calls) == 2  # a second code for style mixing
    before = g.w_avg.clone()
    g.eval()
    calls.clear()
    g(z)
    assert len(calls) == 1 and torch.equal(g.w_avg, before)


def test_noise_inputs_reach_the_image(style_gan):
    g = style_gan.generator.eval()
    for m in g.modules():
        if hasattr(m, "strength"):
            torch.nn.init.constant_(m.strength, 0.5)
    z = torch.randn(2, 8)
    assert not torch.allclose(g(z), g(z))  # fresh per-pixel noise on every call
    assert math.isfinite(float(g(z).detach().abs().max()))


def test_style_layers_split_the_resolutions_in_thirds():
    from dgm.viz.style_mixing import style_layers

    assert [style_layers(7, w) for w in ("coarse", "middle", "fine")] == [[0, 1, 2], [3, 4], [5, 6]]  # 32x32
    assert [style_layers(5, w) for w in ("coarse", "middle", "fine")] == [[0], [1, 2], [3, 4]]  # 28x28


def test_style_mix_grid_cells_take_the_column_sources_styles(style_gan):
    from dgm.viz.style_mixing import style_mix_grid, style_layers

    model = style_gan.eval()
    images, nrow = style_mix_grid(model, 2, 3, "fine", generator=torch.Generator().manual_seed(0))
    assert nrow == 4 and images.shape == (12, 1, 28, 28) and float(images[0].min()) == 1.0  # blank corner
    g = model.generator
    gen = torch.Generator().manual_seed(0)  # the grid's own draws, repeated: one cell computed directly
    a, b = model.draw(2, generator=gen), model.draw(3, generator=gen)
    seed = int(torch.randint(0, 2 ** 62, (), generator=gen))
    wa, wb = g.broadcast(g.map(a.z)), g.broadcast(g.map(b.z))
    cell = wa[1].clone()
    cell[style_layers(g.num_ws, "fine")] = wb[2][style_layers(g.num_ws, "fine")]
    torch.testing.assert_close(images[4 * 2 + 3], model.render_styles(cell[None], seed)[0])
    torch.testing.assert_close(images[3], model.render_styles(wb[2:3], seed)[0])  # top row: column sources
    torch.testing.assert_close(images[4 * 2], model.render_styles(wa[1:2], seed)[0])  # left column: row sources


def test_noise_grid_varies_only_with_the_noise(style_gan):
    from dgm.viz.style_mixing import noise_grid

    model = style_gan.eval()
    for m in model.generator.modules():
        if hasattr(m, "strength"):
            torch.nn.init.constant_(m.strength, 0.3)
    images, nrow = noise_grid(model, 2, 4, torch.Generator().manual_seed(0))
    assert nrow == 5 and images.shape == (10, 1, 28, 28)
    row = images[:4]
    assert not torch.equal(row[0], row[1]) and float((row[0] - row[1]).abs().mean()) < 0.5  # same w, new noise
    assert float(images[4].max()) == pytest.approx(1.0)  # the std image, scaled


def test_style_mix_and_noise_through_the_cli(mnist64, tmp_path, capsys):
    from PIL import Image

    from dgm.cli.main import main

    run = tmp_path / "run"
    assert main(["train", "stylegan2", "--steps", "2", "--out", str(run), "--data", "mnist-10k", "--batch-size", "8",
                 "--set", "model.networks.channels=8", "--set", "model.latent_dim=8", "--no-progress"]) == 0
    for kind in ("style-mix", "noise"):
        assert main(["viz", str(run), kind, "--out", str(tmp_path / f"{kind}.png"), "--rows", "2", "--steps", "3",
                     "--truncation", "0.7"]) == 0
        assert Image.open(tmp_path / f"{kind}.png").size[0] > 4 * 28
    assert main(["sample", str(run), "-n", "4", "--truncation", "0.5", "--out", str(tmp_path / "s.png")]) == 0
    dcgan = tmp_path / "dcgan"
    assert main(["train", "dcgan", "--steps", "1", "--out", str(dcgan), "--data", "mnist-10k", "--batch-size", "8",
                 "--set", "model.channels=8", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["viz", str(dcgan), "style-mix", "--out", str(tmp_path / "x.png")]) != 0
    assert "style-mix draws a style-based generator's styles" in capsys.readouterr().err


def test_stylegan_v1_shares_the_style_machinery(mnist64, tiny_gan):
    """StyleGAN's AdaIN generator: styles reach the image, truncation and mixing as in StyleGAN2, and the path
    length regulariser applies to it too."""
    model = tiny_gan("stylegan", mnist64.info, **{"regularisers.path_length.weight": 2.0}).eval()
    g = model.generator
    assert model.style_based and g.num_ws == 5
    torch.manual_seed(7)
    a, b = g.map(torch.randn(2, 8)), g.map(torch.randn(2, 8))
    ws = g.broadcast(a)
    assert not torch.allclose(g.synthesis(ws), g.synthesis(g.mix(ws, b, 3)))  # fine styles change the image
    torch.testing.assert_close(g.mix(ws, b, g.num_ws), ws)
    seed = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    torch.testing.assert_close(model.sample(3, generator=seed(), truncation=1.0), model.sample(3, generator=seed()))
    model.train()
    out = model.loss(Batch(model.prepare(mnist64.data[:8]), None, step=0), "generator")
    assert float(out["path_length"]) > 0
