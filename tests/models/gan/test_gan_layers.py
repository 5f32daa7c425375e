"""Spectral normalisation, self-attention, conditional BN, regularisers, minibatch layers and the optional fully
connected layer of the DCGAN nets, D's own MLP widths."""
import pytest
import torch
from torch import nn

from dgm.errors import ConfigError
from dgm.models import Batch

from dgm.models.gan.regularisers import HistoricalAverage, feature_matching, matrix_weights, orthogonal_penalty
from dgm.models.gan.tricks import MinibatchDiscrimination, MinibatchStd, instance_noise_std
from dgm.nn import ConditionalBatchNorm2d, SelfAttention2d, spectral_normalize


def test_spectral_norm_gives_unit_largest_singular_value():
    torch.manual_seed(0)
    net = spectral_normalize(nn.Sequential(nn.Linear(20, 30), nn.Conv2d(3, 8, 3)))
    with torch.no_grad():
        for layer in net:
            layer.parametrizations.weight.original.mul_(7.0)  # far from 1 before normalisation
    net.train()
    for _ in range(30):  # each training forward runs one power iteration
        net[0](torch.randn(4, 20))
        net[1](torch.randn(2, 3, 6, 6))
    for layer in net:
        w = layer.weight.detach().flatten(1)
        assert abs(float(torch.linalg.svdvals(w)[0]) - 1.0) < 1e-3
        raw = layer.parametrizations.weight.original.detach().flatten(1)
        assert float(torch.linalg.svdvals(raw)[0]) > 1.5


def test_spectral_norm_skips_conditional_bn():
    block = nn.Sequential(nn.Linear(4, 4), ConditionalBatchNorm2d(4, 3))
    spectral_normalize(block, skip=(ConditionalBatchNorm2d,))
    assert hasattr(block[0], "parametrizations") and not hasattr(block[1].gain, "parametrizations")


def test_conditional_bn_starts_as_batch_norm():
    cbn, bn = ConditionalBatchNorm2d(4, 3), nn.BatchNorm2d(4, affine=False)
    x, cond = torch.randn(8, 4, 5, 5), torch.randn(8, 3)
    torch.testing.assert_close(cbn(x, cond), bn(x))


def test_self_attention_starts_as_identity_and_keeps_shape():
    att = SelfAttention2d(16)
    x = torch.randn(2, 16, 7, 7)
    torch.testing.assert_close(att(x), x)
    with torch.no_grad():
        att.gamma.fill_(1.0)
    y = att(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


def test_orthogonal_penalty_formula():
    w = torch.randn(5, 3, 2, 2)
    m = w.flatten(1)
    gram = m @ m.T
    expected = (gram * (1 - torch.eye(5))).pow(2).sum()
    torch.testing.assert_close(orthogonal_penalty([w]), expected)
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    assert float(orthogonal_penalty([3.0 * q])) < 1e-8  # orthogonal rows of any norm cost nothing
    v = torch.randn(4, 7)
    torch.testing.assert_close(orthogonal_penalty([w, v, w]), 2 * expected + orthogonal_penalty([v]))  # a sum
    assert float(orthogonal_penalty([])) == 0.0


def test_matrix_weights_skip_embeddings_and_vectors():
    net = nn.Sequential(nn.Linear(3, 4), nn.Embedding(5, 4))
    assert [tuple(p.shape) for p in matrix_weights(net)] == [(4, 3)]


def test_historical_average():
    p = nn.Parameter(torch.tensor([1.0, 2.0]))
    hist = HistoricalAverage([p])
    assert float(hist.penalty().detach()) == 0.0  # the mean starts at the initial value
    with torch.no_grad():
        p.copy_(torch.tensor([3.0, 6.0]))
    torch.testing.assert_close(hist.penalty().detach(), torch.tensor((3.0 - 1) ** 2 + (6.0 - 2) ** 2))
    torch.testing.assert_close(hist.mean0, torch.tensor([2.0, 4.0]))  # mean of [1, 2] and [3, 6]
    with torch.no_grad():
        p.copy_(torch.tensor([5.0, 10.0]))
    penalty = hist.penalty()
    torch.testing.assert_close(penalty.detach(), torch.tensor((5.0 - 2) ** 2 + (10.0 - 4) ** 2))
    penalty.backward()
    torch.testing.assert_close(p.grad, 2 * (torch.tensor([5.0, 10.0]) - torch.tensor([2.0, 4.0])))
    torch.testing.assert_close(hist.mean0, torch.tensor([3.0, 6.0]))
    assert int(hist.count) == 3


def test_feature_matching():
    real, fake = torch.randn(6, 4), torch.randn(6, 4, requires_grad=True)
    fm = feature_matching(real, fake)
    torch.testing.assert_close(fm, (real.mean(0) - fake.mean(0)).pow(2).sum())
    fm.backward()
    assert fake.grad is not None


def test_minibatch_layers():
    h = torch.randn(5, 7)
    out = MinibatchStd()(h)
    assert out.shape == (5, 8) and torch.allclose(out[:, -1], out[0, -1])
    torch.testing.assert_close(out[0, -1], h.std(0, unbiased=False).mean(), atol=1e-4, rtol=0)
    mbd = MinibatchDiscrimination(7, kernels=3)
    assert mbd(h).shape == (5, 10)
    same = mbd(torch.ones(4, 7))[:, 7:]  # identical samples: every distance is 0, so each o_b = B - 1
    torch.testing.assert_close(same, torch.full((4, 3), 3.0))


def test_instance_noise_anneals_to_zero():
    assert instance_noise_std(0.1, 0, 100) == 0.1
    assert abs(instance_noise_std(0.1, 50, 100) - 0.05) < 1e-12
    assert instance_noise_std(0.1, 200, 100) == 0.0


@pytest.mark.parametrize("name", ["dcgan", "wgan-gp", "sngan", "infogan"])
def test_fully_connected_layer_of_the_infogan_nets(name, mnist64, tiny_gan):
    model = tiny_gan(name, mnist64.info, fc_hidden=24)
    assert model.critic.trunk.out_features == 24
    linear = [m for m in model.generator.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear][0] == 24  # z -> FC -> the projection to the first feature map
    batch = Batch(model.prepare(mnist64.data[:8]), mnist64.labels[:8], step=0)
    for group in ("discriminator", "generator"):
        assert torch.isfinite(model.loss(batch, group)["loss"])
    assert model.sample(3).shape == (3, 1, 28, 28)
    with pytest.raises(ConfigError, match="fc_hidden"):
        tiny_gan("sagan", mnist64.info, fc_hidden=24)


def test_mlp_discriminator_can_have_its_own_widths(ring, tiny_gan):
    model = tiny_gan("gan", ring.info, mlp_hidden=(16, 16), mlp_hidden_d=(8,))
    d_widths = [m.out_features for m in model.critic.trunk.modules() if isinstance(m, nn.Linear)]
    g_widths = [m.out_features for m in model.generator.modules() if isinstance(m, nn.Linear)]
    assert d_widths == [8] and g_widths == [16, 16, 2]
    assert model.critic(ring.data[:4]).logits.shape[0] == 4
    with pytest.raises(ConfigError, match="mlp_hidden_d"):
        tiny_gan("gan", ring.info, mlp_hidden_d=(0,))
