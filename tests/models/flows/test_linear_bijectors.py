"""The flows' linear layers by hand: invertible 1x1 convolutions start as rotations (log|det| = 0, Kingma &
Dhariwal's initialisation) in both parametrisations, and ActNorm's data-dependent initialisation gives that
batch zero mean and unit (population) variance per channel, once, in training mode only."""
import math

import pytest
import torch

from dgm.models.flows.invconv import InvConv1x1, InvConv1x1LU, random_rotation
from dgm.models.flows.normalization import ActNorm, Scaling


def test_invertible_1x1_convs_start_as_rotations():
    torch.manual_seed(0)
    q = random_rotation(5)
    torch.testing.assert_close(q @ q.T, torch.eye(5), atol=1e-5, rtol=0)
    for layer in (InvConv1x1(5), InvConv1x1LU(5)):
        w = layer.matrix().detach()
        torch.testing.assert_close(w @ w.T, torch.eye(5), atol=1e-5, rtol=0)
        y, ladj = layer(torch.randn(2, 5, 3, 4))
        torch.testing.assert_close(ladj, torch.zeros(2), atol=1e-4, rtol=0)
        torch.testing.assert_close(float(layer.log_abs_det().detach()), float(torch.linalg.slogdet(w)[1]), atol=1e-5, rtol=0)


def test_log_det_counts_every_pixel_of_a_non_square_image():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 3, 5)  # H != W: ladj = H * W * log|det W|
    for layer in (InvConv1x1(3), InvConv1x1LU(3)):
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(0.3 * torch.randn_like(p))
        _, ladj = layer(x)
        expected = 15 * torch.linalg.slogdet(layer.matrix().detach())[1]
        assert abs(float(expected)) > 0.1
        torch.testing.assert_close(ladj.detach(), expected.expand(2), atol=1e-4, rtol=1e-4)


def test_lu_parts_stay_triangular_whatever_the_optimiser_writes():
    torch.manual_seed(0)
    layer = InvConv1x1LU(4)
    before = layer.matrix().detach().clone()
    with torch.no_grad():  # entries outside the triangles are masked out of W
        layer.lower.add_(torch.triu(torch.ones(4, 4)))
        layer.upper.add_(torch.tril(torch.ones(4, 4)))
    torch.testing.assert_close(layer.matrix().detach(), before)
    assert "lower_mask" not in layer.state_dict()  # derived from the size, not saved


def test_actnorm_initialises_from_the_first_training_batch_only():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 4, 5, dtype=torch.float64) * torch.tensor([1.0, 3.0, 0.5]).view(1, 3, 1, 1).double() + 2
    norm = ActNorm(3).double()
    norm.eval()
    y, _ = norm(x)
    assert torch.equal(y, x) and not bool(norm.initialized)  # eval mode: no initialisation
    norm.train()
    y, ladj = norm(x)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64),
                               atol=1e-5, rtol=0)
    std = x.std(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(ladj, torch.full((16,), -20 * float(torch.log(std + 1e-6).sum()), dtype=torch.float64))
    again, _ = norm(3 * x)  # initialised once: a later batch is not normalised afresh
    torch.testing.assert_close(again, (3 * x + norm.bias) * torch.exp(norm.log_scale))


def test_scaling_by_hand():
    layer = Scaling((2,))
    with torch.no_grad():
        layer.log_scale.copy_(torch.tensor([0.5, -1.0]))
    y, ladj = layer(torch.tensor([[2.0, 3.0]]))
    torch.testing.assert_close(y, torch.tensor([[2 * 1.6487213, 3 * 0.36787944]]))
    torch.testing.assert_close(ladj, torch.tensor([-0.5]))


def test_preprocessing_by_hand():
    from dgm.models.flows.preprocess import Affine, Logit, preprocessing

    x = torch.tensor([[0.0, 0.25, 0.999]], dtype=torch.float64)
    centre, ladj = preprocessing.get("center")(0.05)(x)  # Glow: x - 0.5, volume-preserving
    assert torch.equal(centre, x - 0.5) and torch.equal(ladj, torch.zeros(1, dtype=torch.float64))
    same, ladj = preprocessing.get("none")(0.05)(x)
    assert torch.equal(same, x) and torch.equal(ladj, torch.zeros(1, dtype=torch.float64))
    assert torch.equal(Affine()(x)[0], x)  # the identity by default
    y, _ = Logit()(x)  # RealNVP's alpha = 0.05 by default: 0 -> logit(0.05)
    assert float(y[0, 0]) == pytest.approx(math.log(0.05 / 0.95), rel=1e-12)
    y, ladj = preprocessing.get("logit")(0.1)(x)
    p = 0.1 + 0.8 * x
    torch.testing.assert_close(y, torch.log(p / (1 - p)))
    torch.testing.assert_close(ladj, (math.log(0.8) - torch.log(p) - torch.log(1 - p)).sum(1))
