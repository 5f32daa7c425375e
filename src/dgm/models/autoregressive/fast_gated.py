"""The cached sampler of the gated stacks (``GatedPixelCNNNet``, and ``PixelSNAILNet`` with its attention): once
a row is complete its vertical stack is computed for every layer in one vectorised pass (and, through
``v_to_h``, what the next row's horizontal stack needs); within a row, the horizontal stack costs one pixel per
new value, and PixelSNAIL's attention one query against the keys and values of the pixels drawn so far."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ...nn.causal_attention import AttentionCache, CausalPixelAttention
from ...nn.masked import gate
from ...nn.masked_cache import ConvCache, apply_pointwise, pointwise
from ..likelihoods import LikelihoodHead
from .sampling import sample_pixels, to_input


@torch.no_grad()
def sample_gated_fast(net, head: LikelihoodHead, noise: torch.Tensor, cond: torch.Tensor | None = None,
                      progress: bool | None = None) -> torch.Tensor:
    """noise (B, C, H, W, k), cond (B, D) or None -> images (B, C, H, W), as ``naive_sample`` on ``net``."""
    return sample_gated_stacks(list(net.layers), net.out1, net.out2, head, noise, cond, progress)


@torch.no_grad()
def sample_gated_stacks(layers: Sequence, out1, out2, head: LikelihoodHead, noise: torch.Tensor,
                        cond: torch.Tensor | None = None, progress: bool | None = None,
                        attention: Sequence[tuple[int, CausalPixelAttention]] = (),
                        cond_map: torch.Tensor | None = None,
                        embed: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Gated layers (``GatedLayer``) then the output 1x1 convs ``out1``, ``out2``; ``attention``: (k, module)
    pairs in network order, each adding its output to the horizontal stack after layer k, with the first data
    channel's group of that stack as queries and (stack, input pixel) as keys and values, as PixelSNAILNet
    does. ``cond_map`` (B, M, H, W): conditioning known everywhere (a coarser code map's); ``embed``: drawn
    values (...,) -> the first layer's input features (..., E) (embedded codes; default: the value in [-1, 1]).
    noise (B, C, H, W, k) -> values (B, C, H, W)."""
    b, c_n, h, w, _ = noise.shape
    dt = noise.dtype
    features = embed is not None
    v_cache = [ConvCache(layer.v_conv, b, h, w, dt, noise.device) for layer in layers]
    h_cache = [ConvCache(layer.h_conv, b, h, w, dt, noise.device) for layer in layers]
    v_to_h = [pointwise(layer.v_to_h, dt) for layer in layers]
    h_out = [pointwise(layer.h_out, dt) for layer in layers]
    out1, out2 = pointwise(out1, dt), pointwise(out2, dt)
    caches = [AttentionCache(module, b, h * w, dt, noise.device) for _, module in attention]
    attend = [[n for n, (at, _) in enumerate(attention) if at == k] for k in range(len(layers))]  # after layer k
    last_h = [None] * len(caches)  # each attention's stack input at the current pixel: its key / value source
    cond_v, cond_h = [], []
    for layer in layers:
        c = layer.cond(cond.to(dt)).to(dt) if (layer.cond is not None and cond is not None) else None
        cond_v.append(c.chunk(2, dim=1)[0] if c is not None else 0.0)
        cond_h.append(c.chunk(2, dim=1)[1] if c is not None else 0.0)
    # the map's terms per layer, channels-last: (B, H, W, 2 * channels) for each stack
    map_v, map_h = [], []
    for layer in layers:
        m = layer.cond_map(cond_map.to(dt)).permute(0, 2, 3, 1) if (
            layer.cond_map is not None and cond_map is not None) else None
        map_v.append(m.chunk(2, dim=-1)[0] if m is not None else None)
        map_h.append(m.chunk(2, dim=-1)[1] if m is not None else None)
    # what v_to_h gives each layer's horizontal stack in the current row (row 0: the zero row above)
    zero_row = torch.zeros(b, w, layers[0].v_to_h.in_channels, dtype=dt, device=noise.device)
    from_above = [apply_pointwise(zero_row, v_to_h[k]) for k in range(len(layers))]

    def pixel(i: int, j: int) -> torch.Tensor:  # mirrors the network's forward at pixel (i, j)
        for k, layer in enumerate(layers):
            pre = h_cache[k].at(i, j) + cond_h[k] + from_above[k][:, j]
            if map_h[k] is not None:
                pre = pre + map_h[k][:, i, j]
            x = apply_pointwise(gate(pre, dim=-1), h_out[k])
            if layer.residual:
                x = x + h_cache[k].get(i, j)
            for n in attend[k]:
                last_h[n] = x
                x = x + caches[n].attend(i * w + j, x[:, 0::c_n])
            if k + 1 < len(layers):
                h_cache[k + 1].write(i, j, x)
        return apply_pointwise(torch.relu(apply_pointwise(torch.relu(x), out1)), out2)

    def write(i: int, j: int, c: int, v: torch.Tensor) -> None:
        h_cache[0].write(i, j, v, channel=None if features else c)
        if c == c_n - 1:  # the pixel is complete: its keys and values join the caches (the stacks' values at a
            # pixel never depend on its last channel, so the last evaluation's are the full image's)
            px = h_cache[0].get(i, j)
            for n, cache in enumerate(caches):
                cache.add(i * w + j, torch.cat([last_h[n], px], 1))

    def row_done(i: int, x_row: torch.Tensor) -> None:  # x_row: the finished row, (B, C, W) or (B, 1, W, E)
        v_cache[0].write_row(i, x_row[:, 0] if features else x_row.transpose(1, 2))
        for k in range(len(layers)):
            v_pre = v_cache[k].row(i) + (cond_v[k][:, None] if torch.is_tensor(cond_v[k]) else 0.0)
            if map_v[k] is not None:
                v_pre = v_pre + map_v[k][:, i]
            from_above[k] = apply_pointwise(v_pre, v_to_h[k])  # used by row i + 1
            if k + 1 < len(layers):
                v_cache[k + 1].write_row(i, gate(v_pre, dim=-1))

    transform = (lambda v: embed(v.long()).to(dt)) if features else to_input
    return sample_pixels(pixel, write, head, noise, progress, row_done, transform)
