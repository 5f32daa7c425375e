"""Reversible networks: RevNet blocks (Gomez et al. 2017) and a sequence of volume-preserving bijectors trained
without storing activations, as RevNet and i-RevNet (Jacobsen et al. 2018) do.

A ``RevBlock`` splits channels into halves and applies two additive couplings, y1 = x1 + F(x2), y2 = x2 + G(y1):
exactly invertible whatever F and G are, with log-determinant 0, so it is also a (NICE-style) flow layer.
``ReversibleSequence`` runs its blocks forward under ``no_grad`` and keeps only the output; its backward pass
walks the blocks in reverse, rebuilding each block's input from its output and recomputing that block with
gradients, so the memory held for backward does not grow with depth (at the price of one more forward pass)."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from .bijector import Bijector, Chain, bijectors
from .reshape import Squeeze


class RevBlock(Bijector):
    """x (B, 2C, ...) -> y: y1 = x1 + F(x2), y2 = x2 + G(y1) on the channel halves; F and G map (B, C, ...) to
    the same shape (any modules: they are never inverted)."""

    volume_preserving = True

    def __init__(self, f: nn.Module, g: nn.Module):
        super().__init__()
        self.f, self.g = f, g

    def forward(self, x):
        x1, x2 = x.chunk(2, 1)
        y1 = x1 + self.f(x2)
        return torch.cat([y1, x2 + self.g(y1)], 1), x.new_zeros(x.shape[0])

    def inverse(self, y):
        y1, y2 = y.chunk(2, 1)
        x2 = y2 - self.g(y1)
        return torch.cat([y1 - self.f(x2), x2], 1)

    def backward_from_output(self, y: torch.Tensor, dy: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor | None]]:
        """The paper's Algorithm 1: from the output y and dL/dy -> (the input x, dL/dx, dL/d parameters), with one
        evaluation of G and of F under autograd."""
        y1, y2 = y.chunk(2, 1)
        dy1, dy2 = dy.chunk(2, 1)
        g_params, f_params = list(self.g.parameters()), list(self.f.parameters())
        with torch.enable_grad():
            z1 = y1.detach().requires_grad_(True)
            g_out = self.g(z1)
            dz1, *dg = torch.autograd.grad(g_out, [z1, *g_params], dy2, allow_unused=True)
        x2 = (y2 - g_out).detach()
        dz1 = dy1 + dz1  # dL/dy1 in total: directly and through y2
        with torch.enable_grad():
            x2_ = x2.requires_grad_(True)
            f_out = self.f(x2_)
            dx2, *df = torch.autograd.grad(f_out, [x2_, *f_params], dz1, allow_unused=True)
        x = torch.cat([(y1 - f_out).detach(), x2.detach()], 1)
        grads = dict(zip(map(id, f_params), df)) | dict(zip(map(id, g_params), dg))
        return x, torch.cat([dz1, dy2 + dx2], 1), [grads.get(id(p)) for p in self.parameters()]


class _Reversible(torch.autograd.Function):
    """Forward without a graph, backward by rebuilding inputs from outputs, block by block."""

    @staticmethod
    def forward(ctx, x, blocks, *params):
        ctx.blocks = blocks
        # the recomputation in backward runs under the forward pass's autocast (the trainer's bf16), as
        # torch.utils.checkpoint does
        ctx.device_type = x.device.type
        ctx.autocast = (torch.is_autocast_enabled(ctx.device_type), torch.get_autocast_dtype(ctx.device_type))
        with torch.no_grad():
            for block in blocks:
                x = block(x)[0]
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        grads: list[list[torch.Tensor | None]] = []
        enabled, dtype = ctx.autocast
        with torch.autocast(ctx.device_type, dtype=dtype, enabled=enabled):
            dy = _backward_blocks(ctx.blocks, y, dy, grads)
        flat = [p_grad for block_grads in reversed(grads) for p_grad in block_grads]
        return (dy, None, *flat)


def _backward_blocks(blocks, y: torch.Tensor, dy: torch.Tensor, grads: list) -> torch.Tensor:
    """Walk ``blocks`` from the last: rebuild each one's input from its output, append its parameters' gradients
    to ``grads`` (last block first) and return dL/d(first input)."""
    for block in reversed(blocks):
        if hasattr(block, "backward_from_output"):
            y, dy, g = block.backward_from_output(y, dy)
        else:  # any other volume-preserving bijector: invert, then recompute it under autograd
            with torch.no_grad():
                x = block.inverse(y)
            params = list(block.parameters())
            with torch.enable_grad():
                x_ = x.detach().requires_grad_(True)
                dx, *g = torch.autograd.grad(block(x_)[0], [x_, *params], dy, allow_unused=True)
            y, dy = x, dx
        grads.append(list(g))
    return dy


class ReversibleSequence(Chain):
    """Volume-preserving bijectors applied in order (log-determinant 0) whose training keeps no activations:
    with ``memory_saving`` (default) gradients come from ``_Reversible``; without, from ordinary autograd (for
    comparison: the same numbers, more memory)."""

    volume_preserving = True

    def __init__(self, blocks: Iterable[Bijector], memory_saving: bool = True):
        super().__init__(blocks)
        for b in self.layers:
            if not getattr(b, "volume_preserving", False):
                raise ValueError(f"{type(b).__name__} is not volume-preserving: a reversible sequence drops "
                                 "log-determinants")
        self.memory_saving = memory_saving

    def forward(self, x):
        if self.memory_saving and torch.is_grad_enabled() and (x.requires_grad or any(
                p.requires_grad for p in self.parameters())):
            y = _Reversible.apply(x, list(self.layers), *[p for b in self.layers for p in b.parameters()])
            return y, x.new_zeros(x.shape[0])
        return super().forward(x)  # the Chain's pass: every log-determinant is 0


def held_for_backward(fn) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs: the activation memory a training step
    holds (weights and their gradients not counted), exactly, on any device."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def residual_function(channels: int, hidden: int) -> nn.Module:
    """A RevBlock's F or G: 3x3 conv, ReLU, 3x3 conv, (B, channels, H, W) -> the same shape (no batch norm: a
    recomputed forward pass must not update running statistics twice)."""
    return nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(hidden, channels, 3, padding=1))


def rev_block(channels: int, hidden: int) -> RevBlock:
    """A convolutional RevBlock on (B, channels, H, W), channels even."""
    if channels % 2:
        raise ValueError(f"a RevBlock splits channels in halves; {channels} is odd")
    return RevBlock(residual_function(channels // 2, hidden), residual_function(channels // 2, hidden))


def i_revnet(in_channels: int, stages: tuple[int, ...], hidden: int, memory_saving: bool = True
             ) -> ReversibleSequence:
    """An i-RevNet-style fully invertible feature extractor: per stage a 2x2 squeeze (4x the channels, half the
    side) then ``stages[i]`` RevBlocks; (B, C, H, W) -> (B, C * 4**S, H / 2**S, W / 2**S), nothing discarded."""
    blocks: list[Bijector] = []
    c = in_channels
    for depth in stages:
        c *= 4
        blocks.append(Squeeze())
        blocks += [rev_block(c, hidden) for _ in range(depth)]
    return ReversibleSequence(blocks, memory_saving)


@bijectors.register("revblock", help="RevNet block: two additive couplings on channel halves")
def _revblock_example(shape):
    return rev_block(shape[0], 8)


@bijectors.register("reversible-sequence", help="i-RevNet stage trained without stored activations")
def _reversible_example(shape):
    return i_revnet(shape[0], (2,), 8)
