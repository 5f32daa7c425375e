"""Style-based nets: AdaIN's output statistics are the style's by construction, the generator's levels double the
side from the base, and the encoder's w gathers every level's statistics (each level's map reaches it)."""
from __future__ import annotations

import pytest
import torch

from dgm.nn.style import AdaIN, StyleEncoder, StyleGenerator, instance_stats, style_resolutions


def test_adain_sets_each_channels_mean_to_the_bias_and_std_to_one_plus_the_scale():
    torch.manual_seed(0)
    layer = AdaIN(3, 5)
    x, w = torch.randn(4, 3, 6, 6) * 3 + 2, torch.randn(4, 5)
    scale, bias = layer.style(w).chunk(2, 1)
    mean, std = instance_stats(layer(x, w), eps=0.0)
    torch.testing.assert_close(mean, bias, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(std, (1 + scale).abs(), atol=1e-3, rtol=1e-3)


def test_instance_stats_match_torch():
    x = torch.randn(2, 3, 5, 4)
    mean, std = instance_stats(x, eps=0.0)
    torch.testing.assert_close(mean, x.mean((2, 3)))
    torch.testing.assert_close(std, x.std((2, 3), unbiased=False))


def test_resolutions_double_from_the_base_and_reject_sides_they_cannot_reach():
    assert style_resolutions(28, 3) == [7, 14, 28]
    assert style_resolutions(32, 1) == [32]
    with pytest.raises(ValueError, match="divisible by 4"):
        style_resolutions(30, 3)


def test_generator_maps_w_to_images_in_range_and_every_style_matters():
    torch.manual_seed(0)
    g = StyleGenerator(6, (2, 12, 12), (8, 4, 4))
    w = torch.randn(3, 6, requires_grad=True)
    x = g(w)
    assert x.shape == (3, 2, 12, 12) and x.abs().max() <= 1
    x.sum().backward()
    assert all(s.style.weight.grad.abs().sum() > 0 for s in g.styles)  # every level's AdaIN reads w
    assert w.grad.abs().sum() > 0
    # different styles, different images; the same w, the same image (no noise: decoding is deterministic)
    assert not torch.allclose(g(w[:1]), g(w[1:2]))
    torch.testing.assert_close(g(w[:1]), g(w[:1]))


def test_encoder_sums_every_levels_statistics_into_w():
    torch.manual_seed(0)
    e = StyleEncoder((1, 12, 12), (8, 4, 4), 6)
    x = torch.randn(5, 1, 12, 12)
    w = e(x)
    assert w.shape == (5, 6)
    w.sum().backward()
    assert all(lin.weight.grad.abs().sum() > 0 for lin in e.to_style)
    # w is the sum of the per-level maps of [mean, std]: hook each map's input and output
    seen = []
    hooks = [lin.register_forward_hook(lambda m, inp, out: seen.append((inp[0], out))) for lin in e.to_style]
    with torch.no_grad():
        w = e(x)
    for h in hooks:
        h.remove()
    assert len(seen) == 3 and [inp.shape[1] for inp, _ in seen] == [8, 8, 16]  # 2 x widths 4, 4, 8 (reversed)
    torch.testing.assert_close(w, sum(out for _, out in seen))
    assert (seen[0][0][:, 4:] > 0).all()  # the second half is a standard deviation
