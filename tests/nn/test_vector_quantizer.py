"""The vector quantiser against hand computations: nearest codes, the straight-through gradient, the codebook
and commitment losses, one EMA update, restarts of exactly the unused codes, k-means initialisation, and the
k-means++ seeding it shares with the mixtures fitted by EM."""
import math

import pytest
import torch

from dgm.nn.quantizer import VectorQuantizer, kmeans, kmeans_plus_plus, nearest_codes


def _vq(codebook, **kw):
    vq = VectorQuantizer(len(codebook), codebook.shape[1], **kw)
    vq.codebook.data.copy_(codebook)
    if vq.ema:
        vq.embed_sum.copy_(codebook)
        vq.cluster_size.fill_(1.0)
    return vq


def test_nearest_codes_by_brute_force():
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(50, 3, generator=g), torch.randn(7, 3, generator=g)
    brute = ((z[:, None] - e[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(nearest_codes(z, e), brute)


def test_forward_quantizes_to_nearest_codes_with_identity_gradient():
    codebook = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, 3.0]])
    vq = _vq(codebook, ema=False)
    z = torch.tensor([[[[0.9]], [[1.2]]], [[[-1.5]], [[2.0]]]], requires_grad=True)  # (B=2, D=2, 1, 1)
    q, idx, _ = vq(z)
    assert idx.shape == (2, 1, 1) and idx.flatten().tolist() == [1, 2]
    assert torch.allclose(q.detach().movedim(1, -1).reshape(-1, 2), codebook[[1, 2]], atol=1e-6)
    w = torch.randn_like(q)
    (q * w).sum().backward()
    assert torch.equal(z.grad, w)  # straight through: d quantized / d z = identity


def test_losses_against_hand_computation():
    codebook = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    z = torch.tensor([[[[0.2]], [[0.4]]], [[[0.8]], [[1.4]]]])  # rows (0.2, 0.4) -> code 0, (0.8, 1.4) -> code 1
    sq = ((0.2 ** 2 + 0.4 ** 2) + (0.2 ** 2 + 0.4 ** 2)) / 4  # mean squared distance over the 4 elements
    vq = _vq(codebook, ema=False, beta=0.25)
    zz = z.clone().requires_grad_()
    _, _, loss = vq(zz)
    assert loss.item() == pytest.approx(1.25 * sq, rel=1e-6)  # codebook term + 0.25 commitment
    loss.backward()  # the codebook term moves the codes towards z; the commitment term moves z towards codes
    assert torch.allclose(vq.codebook.grad[0], -2 * torch.tensor([0.2, 0.4]) / 4)
    assert torch.allclose(zz.grad[0, :, 0, 0], 0.25 * 2 * torch.tensor([0.2, 0.4]) / 4)
    ema = _vq(codebook, ema=True, beta=0.25).eval()
    assert ema(z)[2].item() == pytest.approx(0.25 * sq, rel=1e-6)  # commitment only


def test_one_ema_update_against_hand_computation():
    codebook = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    decay, eps = 0.9, 0.5  # a large eps: the Laplace smoothing shows in the codebook
    vq = _vq(codebook, decay=decay, eps=eps)
    rows = torch.tensor([[0.2, 0.4], [0.0, -0.2], [0.8, 1.4]])  # codes 0, 0, 1; code 2 unused
    vq(rows[:, :, None, None])
    size = decay * torch.ones(3) + (1 - decay) * torch.tensor([2.0, 1.0, 0.0])
    total = (decay * codebook + (1 - decay) * torch.stack([rows[0] + rows[1], rows[2], torch.zeros(2)]))
    n = size.sum()
    smoothed = (size + eps) / (n + 3 * eps) * n
    assert torch.allclose(vq.cluster_size, size)
    assert torch.allclose(vq.codebook, total / smoothed[:, None], atol=1e-6)
    assert vq.last_stats["codes_used"] == pytest.approx(2 / 3)
    p = torch.tensor([2 / 3, 1 / 3])
    assert vq.last_stats["perplexity"] == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-5)


@pytest.mark.parametrize("ema", [True, False])
def test_restart_replaces_exactly_the_unused_codes(ema):
    codebook = torch.tensor([[0.0, 0.0], [1.0, 1.0], [50.0, 50.0], [-50.0, 50.0]])
    vq = _vq(codebook, ema=ema, restart_every=2, memory=8)
    rows = torch.tensor([[0.1, 0.0], [0.9, 1.1], [0.0, 0.2], [1.2, 1.0]])  # codes 0 and 1 only
    vq(rows[:, :, None, None])
    before = vq.codebook.detach().clone()
    vq(rows[:, :, None, None])  # second call: the check, codes 2 and 3 unused since the start
    after = vq.codebook.detach()
    if not ema:
        assert torch.equal(after[:2], before[:2])  # the used codes are untouched
    for k in (2, 3):  # each dead code now sits on one of the remembered encoder outputs
        assert any(torch.equal(after[k], r) for r in rows)
    assert vq.usage.sum() == 0  # counts start again
    vq.usage[:] = torch.tensor([3.0, 0.0, 2.0, 1.0])
    vq.memory_filled.fill_(4)
    kept = vq.codebook.detach().clone()
    assert vq.restart_dead().tolist() == [1]
    assert torch.equal(vq.codebook.detach()[[0, 2, 3]], kept[[0, 2, 3]])


def test_kmeans_init_and_kmeans_on_separated_clusters():
    g = torch.Generator().manual_seed(1)
    centres = torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    z = torch.cat([c + 0.1 * torch.randn(40, 2, generator=g) for c in centres])
    for seed in range(5):  # k-means++ seeds one centre per separated cluster, whatever the draw
        found = kmeans(z, 3, iters=20, generator=torch.Generator().manual_seed(seed))
        assert (torch.cdist(centres, found).min(1).values < 0.1).all()
    assert len(kmeans(z[:2], 3)) == 3  # fewer rows than centres: rows repeat
    torch.manual_seed(0)
    vq = VectorQuantizer(3, 2, kmeans_init=True)
    assert not bool(vq.initialized)
    vq(z[:, :, None, None])
    assert bool(vq.initialized)
    assert (torch.cdist(centres, vq.codebook).min(1).values < 0.5).all()


def test_state_dict_round_trip_and_lookup():
    vq = VectorQuantizer(5, 3, restart_every=3, memory=16)
    vq(torch.randn(2, 3, 4, 4))
    other = VectorQuantizer(5, 3, restart_every=3, memory=16)
    other.load_state_dict(vq.state_dict())
    z = torch.randn(2, 3, 4, 4)
    q1, i1, _ = vq.eval()(z)
    q2, i2, _ = other.eval()(z)
    assert torch.equal(q1, q2) and torch.equal(i1, i2)
    assert torch.allclose(vq.lookup(i1), q1, atol=1e-6)  # q = z + (e - z): e up to rounding


def test_kmeans_plus_plus_draws_by_squared_distance():
    """Three points on a line at 0, 1 and 3: the first seed is uniform, the second j after i has probability
    d(i, j)^2 / sum_j' d(i, j')^2; the frequencies of the 6 ordered pairs over 6000 draws match."""
    x = torch.tensor([[0.0], [1.0], [3.0]])
    d2 = (x - x.T).pow(2)
    want = {(i, j): (1 / 3) * float(d2[i, j] / d2[i].sum()) for i in range(3) for j in range(3) if i != j}
    g = torch.Generator().manual_seed(0)
    counts = dict.fromkeys(want, 0)
    n = 6000
    row = {0.0: 0, 1.0: 1, 3.0: 2}
    for _ in range(n):
        i, j = (row[float(c)] for c in kmeans_plus_plus(x, 2, g)[:, 0])
        counts[(i, j)] += 1
    for pair, p in want.items():
        assert counts[pair] / n == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n)), pair


def test_kmeans_plus_plus_takes_one_seed_per_far_cluster_and_never_repeats_a_seed_while_others_are_away():
    g = torch.Generator().manual_seed(1)
    centres = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    x = (centres[:, None] + 0.1 * torch.randn(4, 50, 2, generator=g)).reshape(200, 2)
    for seed in range(10):
        seeds = kmeans_plus_plus(x, 4, torch.Generator().manual_seed(seed))
        assert sorted(nearest_codes(seeds, centres).tolist()) == [0, 1, 2, 3]
    dup = torch.tensor([[0.0], [0.0], [0.0], [5.0]])
    for seed in range(5):
        assert sorted(kmeans_plus_plus(dup, 2, torch.Generator().manual_seed(seed))[:, 0].tolist()) == [0.0, 5.0]
