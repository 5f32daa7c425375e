"""Sampling 64 MNIST-size (1x28x28) images from a PixelCNN, Gated PixelCNN or PixelSNAIL: the naive sampler (a
full forward pass per pixel) against the cached sampler (each layer evaluated at the new pixel only), same seed,
same images.

The figure (the issue's): the fast sampler at least 5x faster than the naive one, and the samples identical.
Both samplers draw every pixel by inverse-CDF from the same pre-drawn uniforms, so they agree exactly when
their arithmetic agrees; float32 rounding could flip a draw falling within ~1e-6 of a CDF boundary, which
``differing_values`` would show; ``--dtype float64`` removes that possibility.

    PYTHONPATH=src python3 benchmarks/pixelcnn_sampling_speed.py --model pixelcnn      # the YAML's net, untrained
    PYTHONPATH=src python3 benchmarks/pixelcnn_sampling_speed.py --model gated-pixelcnn
    PYTHONPATH=src python3 benchmarks/pixelcnn_sampling_speed.py --run RUN_DIR         # a trained run
    PYTHONPATH=src python3 benchmarks/pixelcnn_sampling_speed.py --n 4 --no-record     # smoke test

Exits 1 when the samples differ.
"""
from __future__ import annotations

import argparse
import sys
import time

import common  # first: puts src/ on sys.path when needed
import torch
import yaml

import dgm.models as m
from dgm.data.dataset import DatasetInfo
from dgm.runs import load_run
from pixelcnn_binarized_mnist import CONFIGS

MIN_SPEEDUP = 5.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(CONFIGS), default="pixelcnn",
                   help="the network of the model's 30-minute YAML (untrained weights) when no --run is given")
    p.add_argument("--run", help="a trained run directory to sample from instead")
    p.add_argument("--n", type=int, default=64, help="images per sampler")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="smoke test: do not append to benchmarks/results")
    return p.parse_args(argv)


def model_to_time(args) -> list[tuple[str, m.GenerativeModel]]:
    if args.run:
        model, ckpt = load_run(args.run)
        return [(ckpt.config["model"], model)]
    info = DatasetInfo("binarized-mnist", "train", (1, 28, 28), kind="binary")
    torch.manual_seed(args.seed)
    arch = yaml.safe_load((common.REPO / CONFIGS[args.model]).read_text())["model"]
    return [(args.model, m.create(args.model, info, **arch).eval())]


def time_sampler(model, n: int, seed: int, sampler: str, dtype: torch.dtype) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    x = model.sample(n, generator=torch.Generator().manual_seed(seed), sampler=sampler, dtype=dtype)
    return x, time.perf_counter() - t0


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    dtype = getattr(torch, args.dtype)
    status = 0
    for name, model in model_to_time(args):
        fast, fast_s = time_sampler(model, args.n, args.seed, "fast", dtype)
        print(f"{name}: fast sampler {fast_s:.1f} s for {args.n} images; naive sampler...", file=sys.stderr)
        naive, naive_s = time_sampler(model, args.n, args.seed, "naive", dtype)
        differing = int((fast != naive).sum())
        speedup = naive_s / fast_s
        print(f"{name}: naive {naive_s:.1f} s, fast {fast_s:.2f} s: {speedup:.1f}x; identical: {differing == 0}",
              file=sys.stderr)
        record = {
            "benchmark": "pixelcnn_sampling_speed", "metric": "speedup", "value": round(speedup, 2),
            "model": name, "target": MIN_SPEEDUP, "meets_target": speedup >= MIN_SPEEDUP and differing == 0,
            "identical": differing == 0, "differing_values": differing, "n": args.n,
            "shape": list(model.shape), "naive_s": round(naive_s, 2), "fast_s": round(fast_s, 3),
            "images_per_s_fast": round(args.n / fast_s, 2), "images_per_s_naive": round(args.n / naive_s, 3),
            "dtype": args.dtype, "seed": args.seed, "run": args.run, "trained": bool(args.run),
            "model_config": m.registry.config_dict(model), "params": sum(p.numel() for p in model.parameters()),
            "threads": threads, "load_avg_start": load_start,
        }
        common.emit(record, "pixelcnn_sampling_speed", save=not args.no_record)
        status |= int(differing != 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
