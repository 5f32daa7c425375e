"""Coupling layers by hand: the masks element by element, the conditioning half passing unchanged, Glow's
sigmoid(h + 2) scale, and the networks' shapes. The round-trip and Jacobian contracts hold for any mask (a
wrong partition is still invertible), so these pin down which half is which."""
import math

import pytest
import torch

from dgm.models.flows.coupling import ConvNet, Coupling, MLPNet, alternate, channel_half, checkerboard, zero_conv
from dgm.data.dataset import DatasetInfo
from dgm.models import create


def test_checkerboard_by_hand():
    even = torch.tensor([[1.0, 0, 1], [0, 1, 0]])  # 1 where row + column is even
    assert torch.equal(checkerboard((2, 2, 3), 0), even.expand(2, 2, 3))
    assert torch.equal(checkerboard((2, 2, 3), 1), 1 - even.expand(2, 2, 3))


def test_channel_half_by_hand():
    first = torch.tensor([1.0, 1, 0, 0])[:, None, None].expand(4, 3, 5)  # C != H: the half is of the channels
    assert torch.equal(channel_half((4, 3, 5), 0), first)
    assert torch.equal(channel_half((4, 3, 5), 1), 1 - first)


def test_alternate_by_hand():
    assert torch.equal(alternate((2, 3), 0), torch.tensor([[1.0, 0, 1], [0, 1, 0]]))
    assert torch.equal(alternate((2, 3), 1), torch.tensor([[0.0, 1, 0], [1, 0, 1]]))


def perturbed(coupling: Coupling) -> Coupling:
    with torch.no_grad():
        for p in coupling.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return coupling


@pytest.mark.parametrize("mask, parity, net, scale", [
    ("alternate", 1, lambda s: MLPNet(s, (8,)), "none"),
    ("checkerboard", 0, lambda s: ConvNet(s[0], 8, 2 * s[0], 1), "tanh"),
    ("channel", 1, lambda s: ConvNet(s[0], 8, 2 * s[0]), "sigmoid"),
])
def test_the_masked_half_passes_unchanged_and_the_rest_moves(mask, parity, net, scale):
    torch.manual_seed(0)
    shape = (2, 4, 4)
    c = perturbed(Coupling(shape, mask, parity, net(shape), scale))
    x = torch.randn(3, *shape)
    y, _ = c(x)
    kept = c.mask.bool().expand_as(x)
    assert c.mask.sum() == c.mask.numel() / 2
    assert torch.equal(y[kept], x[kept]) and (y[~kept] - x[~kept]).abs().min() > 0


def test_the_mask_is_derived_not_saved():  # checkpoints hold weights only: the mask follows from the config
    c = Coupling((2, 4, 4), "checkerboard", 0, ConvNet(2, 8, 4), "tanh")
    assert "mask" not in c.state_dict()


def test_glow_affine_scale_is_sigmoid_of_h_plus_2():
    """Glow's coupling: y_b = (x_b + t) * sigmoid(h + 2) in the paper's code, here x_b * exp(s) + t with
    s = log sigmoid(h + 2): with a zero net (h = t = 0) the moving half is scaled by sigmoid(2) exactly."""
    shape = (2, 3, 3)
    c = Coupling(shape, "channel", 0, ConvNet(2, 8, 4), "sigmoid")  # zero-initialised last layer: h = t = 0
    x = torch.randn(2, *shape, dtype=torch.float64)
    c = c.double()
    y, ladj = c(x)
    sig2 = 1 / (1 + math.exp(-2.0))
    torch.testing.assert_close(y[:, 1], x[:, 1] * sig2)
    torch.testing.assert_close(ladj, torch.full((2,), 9 * math.log(sig2), dtype=torch.float64))


def test_networks_shapes_and_glows_coupling_net():
    assert MLPNet((1, 4, 4), (8,)).out_shape == (1, 4, 4)  # additive by default: one output per input
    assert MLPNet((1, 4, 4), (8,), k=2).out_shape == (2, 4, 4)
    for kernel in (1, 3, 5):
        conv = zero_conv(3, 6, kernel)
        assert conv(torch.randn(1, 3, 7, 7)).shape == (1, 6, 7, 7) and not conv.weight.any() and not conv.bias.any()
    # Glow's NN(): 3x3 conv, ReLU, 1x1 conv, ReLU, zero 3x3 conv: three convolutions, no residual block
    net = ConvNet(4, 8, 8)
    assert [type(m).__name__ for m in net] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d"]
    assert [m.kernel_size for m in net if isinstance(m, torch.nn.Conv2d)] == [(3, 3), (1, 1), (3, 3)]
    info = DatasetInfo("t", "train", (1, 8, 8))
    glow = create("glow", info, channels=8, depth=1, levels=2)
    nets = [m.net for m in glow.modules() if isinstance(m, Coupling) and isinstance(m.net, ConvNet)]
    assert nets and all(sum(isinstance(m, torch.nn.Conv2d) for m in n.modules()) == 3 for n in nets)
