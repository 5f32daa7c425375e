"""PixelCNN, Gated PixelCNN and PixelSNAIL: causality by gradients, no blind spot in the gated models, exact
normalisation by brute force, identical samples from the naive and the cached sampler, and PixelSNAIL's
attention reaching pixels beyond its convolutions' receptive field."""
import itertools

import pytest
import torch

from dgm.data.dataset import DatasetInfo
from dgm.models import create
from dgm.models.autoregressive import GatedPixelCNNNet, PixelCNNNet, PixelSNAILNet
from dgm.nn.causal_attention import strictly_earlier_mask

# out_hidden is wide so that no pixel has every ReLU of its output layer off (which would zero its gradients)
NETS = {
    "pixelcnn": lambda c, p: PixelCNNNet(c, p, channels=12, blocks=2, out_hidden=48),
    "gated-pixelcnn": lambda c, p: GatedPixelCNNNet(c, p, channels=12, layers=3, out_hidden=48),
    "pixelsnail": lambda c, p: PixelSNAILNet(c, p, channels=12, blocks=2, layers_per_block=1, key_dim=4, value_dim=8,
                                             out_hidden=48),
}
DEPTH = {"pixelcnn": {"blocks": 1}, "gated-pixelcnn": {"layers": 2}, "pixelsnail": {"blocks": 1, "layers_per_block": 1}}


def dependency(net, shape, params_per_dim=2, inputs=4):
    """dep[o, i]: whether output value o depends on input value i, both indexed in sampling order
    (raster over pixels, then channels): (C*H*W, C*H*W) bool, from the autograd Jacobians at a few random
    inputs (a dependency the architecture has shows at some input even where ReLUs switch a path off at one)."""
    c, h, w = shape
    torch.manual_seed(1)
    net = net.double()
    dep = torch.zeros(h * w * c, h * w * c, dtype=torch.bool)
    for _ in range(inputs):
        x = torch.randn(1, c, h, w, dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(lambda t: net(t)[0], x)[:, :, :, 0]  # (P*C, H, W, C, H, W)
        jac = jac.reshape(params_per_dim, c, h, w, c, h, w).abs().sum(0)  # (C, H, W, C, H, W)
        dep |= jac.permute(1, 2, 0, 4, 5, 3).reshape(h * w * c, h * w * c) > 0  # sampling order on both sides
    return dep


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("channels", [1, 3])
def test_output_never_sees_the_current_or_later_values(name, channels):
    dep = dependency(NETS[name](channels, 2), (channels, 5, 5))
    later_or_same = torch.ones_like(dep).triu()  # input index >= output index
    assert not (dep & later_or_same).any()


@pytest.mark.parametrize("name", ["gated-pixelcnn", "pixelsnail"])
@pytest.mark.parametrize("channels", [1, 3])
def test_gated_models_have_no_blind_spot(name, channels):
    dep = dependency(NETS[name](channels, 2), (channels, 5, 5))
    earlier = torch.ones_like(dep).tril(-1)
    assert dep[earlier.bool()].all(), "some earlier value does not influence a later output"


def test_pixelcnn_has_the_known_blind_spot():
    """The plain PixelCNN's stacked masks miss pixels up and to the right (why the gated model exists)."""
    dep = dependency(NETS["pixelcnn"](1, 2), (1, 5, 5))
    earlier = torch.ones_like(dep).tril(-1).bool()
    assert not dep[earlier].all()


def binary_info(shape):
    return DatasetInfo("tiny", "train", shape, kind="binary")


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("shape", [(1, 2, 2), (3, 1, 2)])
def test_probabilities_of_every_binary_image_sum_to_one(name, shape):
    torch.manual_seed(0)
    model = create(name, binary_info(shape), channels=6, out_hidden=6, **DEPTH[name])
    with torch.no_grad():  # a random, untrained model: its conditionals are far from uniform
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    d = shape[0] * shape[1] * shape[2]
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=d))).view(-1, *shape)
    with torch.no_grad():
        total = model.log_prob(images).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-5)


SLOW = pytest.mark.slow  # the naive sampler runs a full forward pass per pixel: minutes on 2 cores
CASES = [("pixelcnn", "bernoulli", 1), pytest.param("pixelcnn", "logistic_mixture", 1, marks=SLOW),
         pytest.param("pixelcnn", "categorical", 3, marks=SLOW), pytest.param("gated-pixelcnn", "bernoulli", 1, marks=SLOW),
         pytest.param("gated-pixelcnn", "logistic_mixture", 3, marks=SLOW),
         pytest.param("gated-pixelcnn", "categorical", 1, marks=SLOW)]


@pytest.mark.parametrize("name,likelihood,channels", CASES)
def test_fast_sampler_draws_the_same_images_as_the_naive_one(name, likelihood, channels):
    torch.manual_seed(0)
    info = DatasetInfo("tiny", "train", (channels, 6, 5), kind="image")
    depth = {"blocks": 2} if name == "pixelcnn" else {"layers": 3}
    model = create(name, info, channels=6, out_hidden=6, mixtures=2, likelihood=likelihood, **depth).eval()
    kw = dict(dtype=torch.float64, progress=False)
    fast = model.sample(4, generator=torch.Generator().manual_seed(7), **kw)
    naive = model.sample(4, generator=torch.Generator().manual_seed(7), sampler="naive", **kw)
    assert fast.shape == (4, channels, 6, 5) and torch.equal(fast, naive)
    assert fast.std() > 0  # not a degenerate all-zero image
    if likelihood == "bernoulli":
        assert set(fast.unique().tolist()) <= {0.0, 1.0}
    else:
        assert torch.equal((fast * 255).round() / 255, fast)  # 8-bit values k / 255


@pytest.mark.parametrize("likelihood,channels,depth", [
    ("logistic_mixture", 3, {"blocks": 2, "layers_per_block": 1, "heads": 2}),
    ("bernoulli", 1, {"blocks": 2, "layers_per_block": 0, "class_conditional": True}),
    pytest.param("categorical", 1, {"blocks": 1, "layers_per_block": 2}, marks=SLOW)])
def test_pixelsnail_cached_sampler_draws_the_naive_samplers_images(likelihood, channels, depth):
    """The key/value caches of the attention layers (weights scaled up so that attention moves every draw),
    with several heads, stacked attentions (no gated layer between them) and class conditioning."""
    torch.manual_seed(0)
    info = DatasetInfo("tiny", "train", (channels, 5, 4), num_classes=3 if depth.get("class_conditional") else 0,
                       kind="binary" if likelihood == "bernoulli" else "image")
    model = create("pixelsnail", info, channels=6, out_hidden=6, key_dim=3, value_dim=4, mixtures=2,
                   likelihood=likelihood, **depth).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    kw = dict(dtype=torch.float64, progress=False, labels=torch.tensor([0, 1, 2, 0]) if info.num_classes else None)
    fast = model.sample(4, generator=torch.Generator().manual_seed(7), **kw)
    naive = model.sample(4, generator=torch.Generator().manual_seed(7), sampler="naive", **kw)
    assert fast.shape == (4, channels, 5, 4) and torch.equal(fast, naive) and fast.std() > 0


@pytest.mark.slow
def test_class_conditional_sampling_and_marginal_likelihood():
    torch.manual_seed(0)
    info = DatasetInfo("tiny", "train", (1, 5, 5), num_classes=3, kind="binary")
    model = create("gated-pixelcnn", info, channels=6, layers=2, out_hidden=6, class_conditional=True).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    labels = torch.tensor([0, 1, 2, 0])
    kw = dict(labels=labels, dtype=torch.float64, progress=False)
    fast = model.sample(4, generator=torch.Generator().manual_seed(1), **kw)
    naive = model.sample(4, generator=torch.Generator().manual_seed(1), sampler="naive", **kw)
    assert torch.equal(fast, naive)
    other = model.sample(4, generator=torch.Generator().manual_seed(1), **{**kw, "labels": labels.roll(1)})
    assert not torch.equal(fast, other)  # the label changes the conditionals
    with torch.no_grad():
        per_class = torch.stack([model.log_prob(fast.float(), torch.full((4,), k)) for k in range(3)])
        marginal = model.log_prob(fast.float())
    assert torch.allclose(marginal, per_class.exp().mean(0).log(), atol=1e-5)


def test_head_is_chosen_from_the_data():
    binary = create("pixelcnn", binary_info((1, 4, 4)), channels=4)
    eight_bit = create("gated-pixelcnn", DatasetInfo("tiny", "train", (1, 4, 4)), channels=4)
    assert type(binary.head).__name__ == "BernoulliHead" and binary.input_transform == "binary"
    assert type(eight_bit.head).__name__ == "DiscretizedLogisticMixtureHead" and eight_bit.input_transform == "unit"


def test_attention_is_the_null_key_and_every_strictly_earlier_pixel():
    """The module's shifted-keys causal form against the explicit mask of its definition (strictly_earlier_mask)."""
    import torch.nn.functional as F

    from dgm.nn.causal_attention import CausalPixelAttention

    torch.manual_seed(0)
    attn = CausalPixelAttention(3, 5, 4, key_dim=2, value_dim=3, heads=2).double()
    with torch.no_grad():
        attn.null_key.normal_()
        attn.null_value.normal_()
    q_in, kv_in = torch.randn(2, 3, 3, 4, dtype=torch.float64), torch.randn(2, 5, 3, 4, dtype=torch.float64)
    q = attn._split(attn.query(q_in), 2)
    k = torch.cat([attn.null_key.expand(2, -1, -1, -1), attn._split(attn.key(kv_in), 2)], 2)
    v = torch.cat([attn.null_value.expand(2, -1, -1, -1), attn._split(attn.value(kv_in), 3)], 2)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=strictly_earlier_mask(12))
    expected = attn.out(y.transpose(2, 3).reshape(2, 6, 3, 4))
    assert torch.allclose(attn(q_in, kv_in), expected, atol=1e-12)


def test_pixelsnail_attention_sees_every_earlier_pixel_beyond_the_convolutions():
    """One 3x3 gated layer sees a few neighbours; the attention after it reaches pixel (0, 0) from the last pixel
    of an 8x8 image, and only through the attention (zeroing its output projection cuts the path)."""
    assert strictly_earlier_mask(3).tolist() == [[True, False, False, False], [True, True, False, False],
                                                  [True, True, True, False]]
    torch.manual_seed(0)
    net = PixelSNAILNet(1, 1, channels=8, blocks=1, layers_per_block=0, first_kernel=3, key_dim=4, value_dim=4,
                        out_hidden=16).double()
    dep = dependency(net, (1, 8, 8), params_per_dim=1)
    assert dep[63, 0] and not (dep & torch.ones_like(dep).triu()).any()
    with torch.no_grad():
        net.attention[0].out.weight.zero_()
        net.attention[0].out.bias.zero_()
    assert not dependency(net, (1, 8, 8), params_per_dim=1)[63, 0]
