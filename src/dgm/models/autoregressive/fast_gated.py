"""The cached sampler of ``GatedPixelCNNNet``: once a row is complete its vertical stack is computed for
every layer in one vectorised pass (and, through ``v_to_h``, what the next row's horizontal stack needs);
within a row, the horizontal stack costs one pixel per new value."""
from __future__ import annotations

import torch

from ...nn.masked import gate
from ...nn.masked_cache import ConvCache, apply_pointwise, pointwise
from ..likelihoods import LikelihoodHead
from .sampling import sample_pixels


@torch.no_grad()
def sample_gated_fast(net, head: LikelihoodHead, noise: torch.Tensor, cond: torch.Tensor | None = None,
                      progress: bool | None = None) -> torch.Tensor:
    """noise (B, C, H, W, k), cond (B, D) or None -> images (B, C, H, W), as ``naive_sample`` on ``net``."""
    b, _, h, w, _ = noise.shape
    dt = noise.dtype
    layers = list(net.layers)
    v_cache = [ConvCache(layer.v_conv, b, h, w, dt, noise.device) for layer in layers]
    h_cache = [ConvCache(layer.h_conv, b, h, w, dt, noise.device) for layer in layers]
    v_to_h = [pointwise(layer.v_to_h, dt) for layer in layers]
    h_out = [pointwise(layer.h_out, dt) for layer in layers]
    out1, out2 = pointwise(net.out1, dt), pointwise(net.out2, dt)
    cond_v, cond_h = [], []
    for layer in layers:
        c = layer.cond(cond.to(dt)).to(dt) if (layer.cond is not None and cond is not None) else None
        cond_v.append(c.chunk(2, dim=1)[0] if c is not None else 0.0)
        cond_h.append(c.chunk(2, dim=1)[1] if c is not None else 0.0)
    # what v_to_h gives each layer's horizontal stack in the current row (row 0: the zero row above)
    zero_row = torch.zeros(b, w, layers[0].v_to_h.in_channels, dtype=dt, device=noise.device)
    from_above = [apply_pointwise(zero_row, v_to_h[k]) for k in range(len(layers))]

    def pixel(i: int, j: int) -> torch.Tensor:  # mirrors GatedPixelCNNNet.forward at pixel (i, j)
        for k, layer in enumerate(layers):
            pre = h_cache[k].at(i, j) + cond_h[k] + from_above[k][:, j]
            x = apply_pointwise(gate(pre, dim=-1), h_out[k])
            if layer.residual:
                x = x + h_cache[k].get(i, j)
            if k + 1 < len(layers):
                h_cache[k + 1].write(i, j, x)
        return apply_pointwise(torch.relu(apply_pointwise(torch.relu(x), out1)), out2)

    def row_done(i: int, x_row: torch.Tensor) -> None:  # x_row (B, C, W): the finished row, network scale
        v_cache[0].write_row(i, x_row.transpose(1, 2))
        for k in range(len(layers)):
            v_pre = v_cache[k].row(i) + (cond_v[k][:, None] if torch.is_tensor(cond_v[k]) else 0.0)
            from_above[k] = apply_pointwise(v_pre, v_to_h[k])  # used by row i + 1
            if k + 1 < len(layers):
                v_cache[k + 1].write_row(i, gate(v_pre, dim=-1))

    return sample_pixels(pixel, lambda i, j, c, v: h_cache[0].write(i, j, v, channel=c), head, noise, progress,
                         row_done)
