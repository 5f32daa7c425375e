"""Time to score 10k MNIST samples with FID against the 10k test images, features included (reference
features cached, as `dgm eval` does after its first run). Target: under 30 s on 2 CPU cores.

    PYTHONPATH=src python3 benchmarks/fid_speed.py [--samples samples.npz]

Without --samples, the 'samples' are 10k training images (the timing does not depend on their content).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import common  # noqa: F401  (puts src/ on sys.path when needed)
import numpy as np
import torch

import dgm.data
from dgm.metrics.evaluate import quality_record
from dgm.metrics.features import load_feature_net


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", help=".npz with key 'images' uint8 (N, 1, 28, 28)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    data = common.data_dir()
    test = dgm.data.load("mnist", "test", data_dir=data, download=False)
    if args.samples:
        samples = torch.from_numpy(np.load(args.samples)["images"])[:10000]
    else:
        samples = dgm.data.load("mnist", "train", data_dir=data, download=False).data[:10000]
    net = load_feature_net("mnist-cnn")
    import os

    os.environ["DGM_CACHE_DIR"] = tempfile.mkdtemp(prefix="dgm-fid-cache-")
    t0 = time.perf_counter()
    quality_record(samples, test, net, ["fid"])  # first call computes and caches the reference features
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rec = quality_record(samples, test, net, ["fid"])
        times.append(time.perf_counter() - t0)
    seconds = sorted(times)[1]
    common.emit({"benchmark": "fid_speed", "metric": "seconds_fid_10k_cached_reference", "value": round(seconds, 2),
                 "target": 30.0, "meets_target": seconds < 30.0, "first_call_s": round(first_s, 2),
                 "repeats_s": [round(t, 2) for t in times], "fid": round(rec["fid"], 3), "n_samples": len(samples),
                 "feature_net": net.name, "threads": threads, "load_avg_start": load_start, "artifacts": []},
                "fid_speed", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
