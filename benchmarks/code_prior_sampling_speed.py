"""Sampling the codes of 64 images from a code prior: the naive sampler (a full pass per code) against the cached
one (the transformer's key/value cache, or the gated PixelCNN's stack caches: one position per code), same
seed, same codes.

The figure (the issue's): the cached sampler >= 10x faster than the naive one for 64 samples, with identical
codes. Both draw every code by inverse CDF from the same uniforms drawn up front, so they agree unless float32
rounding moves a CDF boundary across a uniform (``differing_codes`` would show it). The time is of the codes
only (decoding them is the same for both): each sampler's best of --repeats runs after a warm-up, all of them in
the record.

    PYTHONPATH=src python3 benchmarks/code_prior_sampling_speed.py --run PRIOR_RUN     # a trained prior
    PYTHONPATH=src python3 benchmarks/code_prior_sampling_speed.py --levels 7x7,14x14   # untrained, VQ-VAE-2 maps
    PYTHONPATH=src python3 benchmarks/code_prior_sampling_speed.py --run GATED_PRIOR_RUN
    PYTHONPATH=src python3 benchmarks/code_prior_sampling_speed.py --n 4 --no-record    # smoke test

Exits 1 when the codes differ.
"""
from __future__ import annotations

import argparse
import sys
import time

import common  # first: puts src/ on sys.path when needed
import torch

from dgm.data.dataset import DatasetInfo
from dgm.models import create
from dgm.models.registry import config_dict
from dgm.runs import load_run

MIN_SPEEDUP = 10.0
UNTRAINED = {"transformer": {"prior": "transformer", "width": 128, "layers": 4, "heads": 4, "dropout": 0.1},
             "gated-pixelcnn": {"prior": "gated-pixelcnn", "width": 128, "layers": 8, "kernel": 3}}  # the YAMLs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="a trained prior (dgm train code-prior)")
    p.add_argument("--prior", choices=sorted(UNTRAINED), default="transformer", help="without --run: its network")
    p.add_argument("--levels", default="7x7", help="without --run: code maps of an untrained prior, e.g. 7x7,14x14")
    p.add_argument("--num-codes", type=int, default=512)
    p.add_argument("--n", type=int, default=64, help="code sequences per sampler")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each sampler (the best counts)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="smoke test: do not append to benchmarks/results")
    return p.parse_args(argv)


def prior_to_time(args):
    if args.run:
        return load_run(args.run)[0]
    levels = [[int(v) for v in s.split("x")] for s in args.levels.split(",")]
    info = DatasetInfo("codes:untrained", "train", (sum(h * w for h, w in levels),), kind="codes",
                       codes={"num_codes": args.num_codes, "levels": levels})
    torch.manual_seed(args.seed)
    return create("code-prior", info, **UNTRAINED[args.prior]).eval()


def time_sampler(prior, n: int, seed: int, sampler: str, repeats: int = 1) -> tuple[torch.Tensor, list[float]]:
    """The codes of n sequences and the seconds of each of ``repeats`` runs (same seed: the same codes)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        codes = prior.sample_codes(n, generator=torch.Generator().manual_seed(seed), sampler=sampler,
                                   progress=False)
        times.append(time.perf_counter() - t0)
    return codes, times


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    prior = prior_to_time(args)
    time_sampler(prior, 2, args.seed, "cached")  # warm-up: first calls pay for allocations
    cached, cached_times = time_sampler(prior, args.n, args.seed, "cached", args.repeats)
    naive, naive_times = time_sampler(prior, args.n, args.seed, "naive", args.repeats)
    cached_s, naive_s = min(cached_times), min(naive_times)
    differing = int((cached != naive).sum())
    speedup = naive_s / cached_s
    print(f"naive {naive_s:.2f} s, cached {cached_s:.3f} s: {speedup:.1f}x; identical: {differing == 0}",
          file=sys.stderr)
    record = {
        "benchmark": "code_prior_sampling_speed", "metric": "speedup", "value": round(speedup, 2),
        "model": "code-prior", "prior": prior.config.prior, "target": MIN_SPEEDUP, "meets_target": speedup >= MIN_SPEEDUP and differing == 0,
        "identical": differing == 0, "differing_codes": differing, "n": args.n, "levels": prior.levels,
        "codes_per_sample": prior.ends[-1], "num_codes": prior.num_codes, "naive_s": round(naive_s, 3),
        "cached_s": round(cached_s, 3), "naive_times_s": [round(t, 3) for t in naive_times],
        "cached_times_s": [round(t, 3) for t in cached_times], "repeats": args.repeats, "seed": args.seed, "run": args.run, "trained": bool(args.run),
        "model_config": config_dict(prior), "params": sum(p.numel() for p in prior.parameters()),
        "threads": threads, "load_avg_start": load_start,
    }
    common.emit(record, "code_prior_sampling_speed", save=not args.no_record)
    return int(differing != 0)


if __name__ == "__main__":
    sys.exit(main())
