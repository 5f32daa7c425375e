"""Equalised learning rate: the runtime scale is He's constant, the layer computes what a plain layer with the
scaled weights computes, its gradients are the plain layer's times that constant, and so Adam moves the effective
weights by lr times the constant (the point of it)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dgm.nn import MLP
from dgm.nn.equalized import EqualizedConv2d, EqualizedLinear


def test_linear_is_a_plain_layer_with_scaled_weights_and_scaled_gradients():
    torch.manual_seed(0)
    layer = EqualizedLinear(64, 5)
    assert layer.scale == math.sqrt(2.0) / 8  # gain / sqrt(fan_in)
    plain = torch.nn.Linear(64, 5)
    with torch.no_grad():
        plain.weight.copy_(layer.weight * layer.scale)
        plain.bias.copy_(layer.bias)
    x = torch.randn(7, 64)
    torch.testing.assert_close(layer(x), plain(x))
    layer(x).square().sum().backward()
    plain(x).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, plain.weight.grad * layer.scale)
    torch.testing.assert_close(layer.bias.grad, plain.bias.grad)


def test_conv_scale_counts_the_kernel_and_matches_conv2d():
    torch.manual_seed(1)
    conv = EqualizedConv2d(4, 6, 3, padding=1)
    assert math.isclose(conv.scale, math.sqrt(2.0) / math.sqrt(4 * 9))
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1))


def test_adam_moves_effective_weights_by_lr_times_the_constant():
    torch.manual_seed(2)
    layer = EqualizedLinear(256, 3)
    before = layer.weight.detach() * layer.scale
    opt = torch.optim.Adam(layer.parameters(), lr=0.01)
    layer(torch.randn(16, 256)).sum().backward()
    opt.step()
    step = (layer.weight.detach() * layer.scale - before).abs()
    torch.testing.assert_close(step.max(), torch.tensor(0.01 * layer.scale), rtol=1e-3, atol=0)


def test_mlp_builds_equalized_layers_on_request():
    assert all(isinstance(m, EqualizedLinear) for m in MLP(3, (4,), 2, "relu", equalized=True) if not
               isinstance(m, torch.nn.ReLU))
    assert isinstance(MLP(3, (4,), 2)[0], torch.nn.Linear)


def test_lr_multiplier_keeps_the_start_and_slows_adam_by_its_factor():
    """StyleGAN's mapping layers (lr_mul 0.01): the same effective weights at the start as a plain equalised layer,
    the bias starts at bias_init, and Adam moves the effective weights lr_mul times less."""
    torch.manual_seed(3)
    slow = EqualizedLinear(256, 3, lr_mul=0.01, bias_init=1.0)
    torch.manual_seed(3)
    fast = EqualizedLinear(256, 3)
    torch.testing.assert_close(slow.weight * slow.scale, fast.weight * fast.scale)
    x = torch.randn(16, 256)
    torch.testing.assert_close(slow(x), fast(x) + 1.0)
    steps = []
    for layer in (slow, fast):
        before = (layer.weight * layer.scale).detach()
        opt = torch.optim.Adam(layer.parameters(), lr=0.01)
        layer(x).sum().backward()
        opt.step()
        steps.append(((layer.weight * layer.scale).detach() - before).abs().max())
    torch.testing.assert_close(steps[0], steps[1] * 0.01, rtol=1e-2, atol=0)  # (Adam's eps: 0.1%)
