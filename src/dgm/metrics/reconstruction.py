"""Reconstruction error of models with an encoder and a decoder: mean squared error and PSNR in [0, 1] pixels;
for models with a codebook, how much of it the data uses."""
from __future__ import annotations

import math

import torch

from ..data.dataset import ImageDataset
from ..data.transforms import as_unit
from ..models.base import DiscreteCodes, Reconstructs
from ..nn.quantizer import perplexity


@torch.no_grad()
def reconstruction_error(model: Reconstructs, data: ImageDataset, batch_size: int = 250, seed: int = 0
                         ) -> dict[str, float]:
    """MSE of ``model.reconstruct`` against the images scaled to [0, 1] (stored binary data: {0, 1}; 2-D points
    as they are), averaged
    over every pixel of every example, and PSNR = 10 log10(1 / MSE) in dB of that mean (the dataset's PSNR,
    not a mean of per-image PSNRs); the model's input is ``prepare(x, train=False)`` with a seeded generator.
    A model with a codebook (DiscreteCodes) reconstructs as decode(encode(x)) and adds ``codes_used`` (the
    fraction of its codes the data's code grids use) and ``code_perplexity`` (exp of the codes' entropy); for a
    model with several code maps (``encode`` gives a tuple: VQ-VAE-2's top and bottom) both are lists, one
    entry per map."""
    coded = isinstance(model, DiscreteCodes)
    counts: list[torch.Tensor] = []
    total, count = 0.0, 0
    for target, rec, codes in _batches(model, data, batch_size, seed):
        if coded:
            levels = codes if isinstance(codes, tuple) else (codes,)
            counts = counts or [torch.zeros(model.num_codes, dtype=torch.float64) for _ in levels]
            for total_counts, level in zip(counts, levels):
                total_counts += torch.bincount(level.flatten().cpu(), minlength=model.num_codes).double()
        total += float((rec - target).pow(2).double().sum())
        count += target.numel()
    mse = total / max(count, 1)
    out = {"mse": mse, "psnr_db": 10 * math.log10(1.0 / mse) if mse > 0 else math.inf, "n": len(data)}
    if coded:
        used = [float((c > 0).double().mean()) for c in counts]
        spread = [perplexity(c) for c in counts]
        out["codes_used"], out["code_perplexity"] = (used[0], spread[0]) if len(counts) == 1 else (used, spread)
    return out


@torch.no_grad()
def reconstructed_images(model: Reconstructs, data: ImageDataset, batch_size: int = 250, seed: int = 0
                         ) -> torch.Tensor:
    """The reconstructions (N, *shape) in [0, 1] of ``data``'s examples, exactly as ``reconstruction_error``
    scores them (for sample-quality metrics of reconstructions)."""
    return torch.cat([rec for _, rec, _ in _batches(model, data, batch_size, seed)])


def _batches(model: Reconstructs, data: ImageDataset, batch_size: int, seed: int):
    """Per batch: (the images in [0, 1], their reconstructions in [0, 1] on the CPU, the codes or None); the model's
    input is ``prepare(x, train=False)`` with a generator seeded once."""
    g = torch.Generator().manual_seed(seed)
    device = getattr(model, "device", torch.device("cpu"))
    coded = isinstance(model, DiscreteCodes)
    for i in range(0, len(data), batch_size):
        x = data.data[i: i + batch_size]
        inputs = model.prepare(x, g, train=False).to(device)
        codes = model.encode(inputs) if coded else None
        rec = model.decode(codes) if coded else model.reconstruct(inputs)
        yield as_unit(x, data.info.kind), rec.float().cpu(), codes
