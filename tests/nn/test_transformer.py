"""The causal transformer: causality by autograd Jacobian and by perturbing tokens, the key/value cache against
the full pass (one and several positions at a time), naive and cached samplers drawing the same sequences, the
inverse-CDF draw, and brute-force normalisation over every sequence of a tiny vocabulary."""
import itertools

import pytest
import torch

from dgm.models.autoregressive.sequence_sampling import cached_sequence_sample, draw_tokens, naive_sequence_sample
from dgm.nn.transformer import CausalTransformer


def _net(vocab=5, length=6, prefixes=3, **kw):
    torch.manual_seed(0)
    return CausalTransformer(vocab, length, dim=16, layers=2, heads=2, prefixes=prefixes, **kw).eval()


def test_no_output_depends_on_its_own_or_later_inputs_by_jacobian():
    net = _net()
    h = torch.randn(1, 6, 16, requires_grad=True)
    out = net.run(h)
    for t in range(6):
        (grad,) = torch.autograd.grad(out[0, t].sum(), h, retain_graph=True)
        if t < 5:
            assert grad[0, t + 1:].abs().max() == 0  # inputs after t: no influence
        assert grad[0, : t + 1].abs().sum() > 0  # inputs up to t (prefix and tokens < t) matter


def test_logits_of_token_t_ignore_tokens_t_and_later():
    net = _net()
    g = torch.Generator().manual_seed(1)
    tokens, prefix = torch.randint(5, (4, 6), generator=g), torch.tensor([0, 1, 2, 0])
    base = net(tokens, prefix)
    for t in range(6):
        changed = tokens.clone()
        changed[:, t:] = (changed[:, t:] + 1) % 5
        assert torch.allclose(net(changed, prefix)[:, : t + 1], base[:, : t + 1], atol=1e-6)
    assert not torch.allclose(net(tokens, torch.tensor([1, 2, 0, 1])), base)  # the prefix (class) matters


def test_cache_gives_the_full_pass_logits_one_and_several_positions_at_a_time():
    net = _net()
    g = torch.Generator().manual_seed(2)
    tokens, prefix = torch.randint(5, (3, 6), generator=g), torch.tensor([2, 0, 1])
    full = net(tokens, prefix)
    cache = net.new_cache(3)
    stepped = [net.step(None, prefix, cache)] + [net.step(tokens[:, t - 1], prefix, cache) for t in range(1, 6)]
    assert torch.allclose(torch.stack(stepped, 1), full, atol=1e-5)
    cache = net.new_cache(3)  # a chunk of three positions (the masked path), then one position
    chunk = net.run(net.embed(tokens[:, :3], prefix), cache)
    cache.filled = 3
    assert torch.allclose(chunk, full[:, :3], atol=1e-5)
    assert torch.allclose(net.step(tokens[:, 2], prefix, cache), full[:, 3], atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_naive_and_cached_samplers_draw_the_same_sequences(seed):
    net = _net(vocab=7, length=6)
    u = torch.rand(8, 6, generator=torch.Generator().manual_seed(seed))
    prefix = torch.arange(8) % 3
    naive = naive_sequence_sample(net, prefix, u, temperature=0.9)
    cached = cached_sequence_sample(net, prefix, u, temperature=0.9)
    assert naive.shape == (8, 6) and torch.equal(naive, cached)
    assert 0 <= int(naive.min()) and int(naive.max()) < 7


def test_inverse_cdf_draw_has_the_softmax_frequencies():
    logits = torch.tensor([[0.0, 1.0, -1.0, 2.0]])
    n = 100_000
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    draws = torch.cat([draw_tokens(logits.expand(1000, 4), chunk) for chunk in u.split(1000)])
    freq = torch.bincount(draws, minlength=4).double() / n
    assert torch.allclose(freq, torch.softmax(logits[0].double(), 0), atol=2e-5)
    hot = draw_tokens(logits.expand(1000, 4), u[:1000], temperature=1e-3)
    assert (hot == 3).all()  # temperature -> 0: the argmax


def test_brute_force_normalisation_over_every_sequence():
    net = _net(vocab=4, length=3, prefixes=2)
    seqs = torch.tensor(list(itertools.product(range(4), repeat=3)))  # all 64 sequences
    for c in (0, 1):
        with torch.no_grad():
                logp = torch.log_softmax(net(seqs, torch.full((64,), c)), -1).gather(-1, seqs[..., None])[..., 0].sum(1)
        assert float(logp.double().exp().sum()) == pytest.approx(1.0, abs=1e-5)


def test_sequences_longer_than_the_positions_are_refused():
    with pytest.raises(ValueError, match="longer"):
        _net(length=4)(torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, dtype=torch.long))
