"""Reversible networks: the rebuilt activations equal the forward ones, the memory-saving gradients equal
ordinary autograd's (RevBlock's own backward and the generic one of a squeeze), and the memory held for backward
stays flat with depth where ordinary autograd's grows linearly (bytes of the tensors autograd saves, counted by
``torch.autograd.graph.saved_tensors_hooks``)."""
from __future__ import annotations

import pytest
import torch

from dgm.models.flows import Coupling, ReversibleSequence, i_revnet, rev_block
from dgm.models.flows.reshape import Squeeze
from dgm.models.flows.reversible import held_for_backward


def copies(seed=0, stages=(2, 1)):
    torch.manual_seed(seed)
    saving = i_revnet(1, stages, 8, memory_saving=True)
    plain = i_revnet(1, stages, 8, memory_saving=False)
    plain.load_state_dict(saving.state_dict())
    return saving, plain


def test_inverse_rebuilds_the_input_and_nothing_is_discarded():
    net, _ = copies()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        y, ladj = net(x)
    assert y.shape == (4, 16, 2, 2) and torch.equal(ladj, torch.zeros(4))  # 1 x 8 x 8 = 16 x 2 x 2 values
    assert (net.inverse(y) - x).abs().max() < 1e-5


def test_memory_saving_gradients_equal_autograds():
    saving, plain = copies()
    x = torch.randn(6, 1, 8, 8)
    xs, xp = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    target = torch.randn(6, 16, 2, 2)
    for net, inp in ((saving, xs), (plain, xp)):
        ((net(inp)[0] - target).pow(2).sum() + net(inp)[0].sin().sum()).backward()
    torch.testing.assert_close(xs.grad, xp.grad, rtol=1e-5, atol=1e-5)
    for (name, a), (_, b) in zip(saving.named_parameters(), plain.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-5, msg=name)


def test_the_block_rebuilds_its_input_from_its_output_in_backward():
    torch.manual_seed(1)
    block = rev_block(4, 6)
    x = torch.randn(3, 4, 5, 5)
    y = block(x)[0].detach()
    rebuilt, _, grads = block.backward_from_output(y, torch.ones_like(y))
    assert (rebuilt - x).abs().max() < 1e-5 and len(grads) == len(list(block.parameters()))


def test_memory_held_for_backward_is_flat_in_depth():
    x = torch.randn(8, 1, 16, 16, requires_grad=True)
    held = {}
    for depth in (2, 4, 8):
        saving, plain = copies(stages=(depth,))
        held[depth] = held_for_backward(lambda: saving(x)), held_for_backward(lambda: plain(x))
    assert held[2][0] == held[4][0] == held[8][0]  # the output alone, whatever the depth
    assert held[8][1] > 3.5 * held[2][1] and held[2][1] > 4 * held[2][0]  # ordinary autograd: every activation


def test_a_sequence_refuses_layers_with_a_log_determinant():
    with pytest.raises(ValueError, match="not volume-preserving"):
        ReversibleSequence([Squeeze(), Coupling((4, 2, 2), "channel", 0, torch.nn.Identity())])


@pytest.mark.parametrize("autocast", [False, True])
def test_irevnet_flow_trains_the_same_with_and_without_stored_activations(autocast):
    from dgm.data.dataset import DatasetInfo
    from dgm.models import Batch, create

    info = DatasetInfo(name="toy", split="train", shape=(1, 8, 8), kind="image")
    torch.manual_seed(0)
    saving = create("irevnet", info, stages=(2, 1), hidden=8)
    plain = create("irevnet", info, stages=(2, 1), hidden=8, memory_saving=False)
    plain.load_state_dict(saving.state_dict())
    x = torch.rand(16, 1, 8, 8)
    for model in (saving, plain):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):  # the trainer's bf16 path
            model.loss(Batch(x))["loss"].backward()
    tol = dict(rtol=5e-2, atol=5e-2) if autocast else dict(rtol=1e-5, atol=1e-5)
    for (name, a), (_, b) in zip(saving.named_parameters(), plain.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name, **tol)
    with torch.no_grad():
        torch.testing.assert_close(saving.log_prob(x), plain.log_prob(x))
