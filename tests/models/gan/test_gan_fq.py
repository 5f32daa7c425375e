"""FQ-GAN's feature quantisation: D's features replaced by their nearest EMA-dictionary entries per position
(the VQ-VAE quantiser, shared), a straight-through gradient, the commitment loss in D's loss with its weight."""
import torch

from dgm.models import Batch
from dgm.models.gan.tricks import FeatureQuantizer
from dgm.nn.quantizer import VectorQuantizer, nearest_codes


def test_quantised_features_are_the_nearest_entries_per_position_with_identity_gradient():
    torch.manual_seed(0)
    layer = FeatureQuantizer((4, 3, 3), codes=8, beta=0.25, decay=0.9).eval()
    assert isinstance(layer.quantizer, VectorQuantizer)  # one quantiser for VQ-VAE and FQ-GAN
    with torch.no_grad():
        layer.quantizer.codebook.normal_()
    h = torch.randn(5, 36, requires_grad=True)
    out = layer(h)
    vectors = h.detach().view(5, 4, 9).movedim(1, -1).reshape(-1, 4)  # each position's channel vector
    want = layer.quantizer.codebook[nearest_codes(vectors, layer.quantizer.codebook)].view(5, 9, 4).movedim(-1, 1)
    torch.testing.assert_close(out, want.reshape(5, 36))
    (g,) = torch.autograd.grad((out * torch.arange(36.0)).sum(), h)
    torch.testing.assert_close(g, torch.arange(36.0).expand(5, -1))  # straight through
    torch.testing.assert_close(layer.loss, 0.25 * (h.detach() - want.reshape(5, 36)).pow(2).mean())


def test_fq_term_in_the_discriminator_loss_and_the_dictionary_moves(mnist64, tiny_gan):
    model = tiny_gan("dcgan", mnist64.info, **{"networks.fc_hidden": 0, "networks.d_norm": "none",
                                                "tricks.feature_quantisation": {"weight": 2.0, "codes": 16}})
    model.train()
    x = model.prepare(mnist64.data[:16], torch.Generator().manual_seed(0))
    quantizer = model.critic.extra[0].quantizer
    before = quantizer.codebook.clone()
    torch.manual_seed(1)
    out = model.loss(Batch(x, None, step=0), "discriminator")
    assert not torch.equal(quantizer.codebook, before)  # EMA updates in training
    torch.testing.assert_close(out["loss"], out["adv"] + out["fq"])
    # the same draws with weight 1: half the term
    half = tiny_gan("dcgan", mnist64.info, **{"networks.fc_hidden": 0, "networks.d_norm": "none",
                                               "tricks.feature_quantisation": {"weight": 1.0, "codes": 16}}).train()
    torch.manual_seed(1)
    torch.testing.assert_close(half.loss(Batch(x, None, step=0), "discriminator")["fq"], out["fq"] / 2)
    model.eval()
    frozen = quantizer.codebook.clone()
    model.loss(Batch(x, None, step=1), "discriminator")
    assert torch.equal(quantizer.codebook, frozen)
    assert "fq" not in model.loss(Batch(x, None, step=1), "generator")
