"""Virtual batch norm (Salimans et al. 2016): each example normalised by a fixed reference batch plus itself,
checked against batch norm over that union, and a VBN generator whose outputs do not depend on the minibatch."""
import pytest
import torch
import torch.nn.functional as F

from dgm.errors import ConfigError
from dgm.nn.norms import VirtualBatchNorm, reference_pass


@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 4, 5)])
def test_vbn_is_batch_norm_over_the_reference_batch_and_the_example(shape):
    torch.manual_seed(0)
    vbn = VirtualBatchNorm(3)
    with torch.no_grad():
        vbn.weight.uniform_(0.5, 2)
        vbn.bias.normal_()
    ref, x = torch.randn(*shape) * 2 + 1, torch.randn(*shape)
    with reference_pass(vbn):
        ref_out = vbn(ref)
    torch.testing.assert_close(ref_out, F.batch_norm(ref, None, None, vbn.weight, vbn.bias, True, eps=1e-5))
    out = vbn(x)
    for i in range(len(x)):  # batch norm over (reference batch + example i), example i's rows
        union = torch.cat([ref, x[i:i + 1]])
        want = F.batch_norm(union, None, None, vbn.weight, vbn.bias, True, eps=1e-5)[-1]
        torch.testing.assert_close(out[i], want, rtol=1e-4, atol=1e-5)


def test_vbn_needs_a_reference_pass():
    with pytest.raises(RuntimeError, match="reference pass"):
        VirtualBatchNorm(3)(torch.randn(2, 3))


def test_a_vbn_generator_does_not_depend_on_the_rest_of_its_minibatch(mnist64, tiny_gan):
    model = tiny_gan("dcgan", mnist64.info, **{"networks.g_norm": "virtual"})
    model.train()
    g = model.generator
    z = torch.randn(3, 8)
    with torch.no_grad():
        a, b = g(torch.stack([z[0], z[1]])), g(torch.stack([z[0], z[2]]))
    torch.testing.assert_close(a[0], b[0])  # batch norm would mix the batch in
    assert "ref_noise" in dict(g.named_buffers())
    bn = tiny_gan("dcgan", mnist64.info).train().generator
    with torch.no_grad():
        assert not torch.allclose(bn(torch.stack([z[0], z[1]]))[0], bn(torch.stack([z[0], z[2]]))[0])


def test_vbn_is_for_the_dcgan_generator(mnist64, tiny_gan):
    with pytest.raises(ConfigError, match="g_norm 'virtual' is built for the DCGAN generator"):
        tiny_gan("sngan", mnist64.info, **{"networks.g_norm": "virtual", "networks.architecture": "resnet"})


def test_a_vbn_dcgan_trains_and_samples(mnist64, tiny_gan):
    from dgm.train import TrainConfig, Trainer

    model = tiny_gan("dcgan", mnist64.info, **{"networks.g_norm": "virtual", "networks.fc_hidden": 16})
    before = [p.detach().clone() for p in model.generator.parameters()]
    Trainer(model, mnist64, TrainConfig(steps=3, batch_size=16), progress=False, callbacks=[]).fit()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.generator.parameters()))
    x = model.eval().sample(4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 28, 28) and torch.isfinite(x).all()
