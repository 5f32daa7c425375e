"""PixelCNN / Gated PixelCNN on binarized MNIST (Larochelle & Murray's fixed binarisation and 50k/10k/10k
split), trained for a wall-clock budget; exact test NLL in nats on the 10k test images.

The figure (the issue's): test NLL <= 90 nats within 30 minutes of training on 2 CPU threads (anchor:
PixelCNN 81.30 nats, van den Oord et al. 2016). The record holds the learning curve (test NLL on the first
--curve-n test images every --curve-every-s seconds of training; evaluation time is not charged to the
budget) and a 64-sample grid drawn with the fast sampler.

    PYTHONPATH=src python3 benchmarks/pixelcnn_binarized_mnist.py --model pixelcnn          # 1800 s + eval
    PYTHONPATH=src python3 benchmarks/pixelcnn_binarized_mnist.py --model gated-pixelcnn
    PYTHONPATH=src python3 benchmarks/pixelcnn_binarized_mnist.py --budget-s 20 --eval-n 200 --no-record

The run directory (printed, and in the record) keeps the final checkpoint, so `dgm eval RUN --metrics nll`
and `benchmarks/pixelcnn_sampling_speed.py --run RUN` can use the trained model.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import torch

import dgm.data
from dgm.config import to_dict
from dgm.metrics import negative_log_likelihood
from dgm.viz import save_grid
from budget import fit_with_curve, spread_subset

TARGET, ANCHOR = 90.0, 81.30  # nats on the test split
FULL = {"budget_s": 1800.0, "eval_n": 10000}
# sized for the 2-core budget (as configs/pixelcnn_binarized_mnist.yaml, pixelcnn_gated_binarized_mnist.yaml)
ARCH = {
    "pixelcnn": {"channels": 64, "blocks": 6, "kernel": 5, "out_hidden": 64},
    "gated-pixelcnn": {"channels": 32, "layers": 6, "out_hidden": 64},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(ARCH), default="pixelcnn")
    p.add_argument("--budget-s", type=float, default=FULL["budget_s"], help="training wall-clock budget")
    p.add_argument("--max-steps", type=int, default=None, help="also stop after this many steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-min", type=float, default=5e-5, help="final lr of the cosine schedule")
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    p.add_argument("--grad-clip", type=float, default=100.0)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="training precision (bf16 autocast for the network; evaluation is always fp32)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture override, e.g. channels=96 (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-n", type=int, default=FULL["eval_n"], help="test images evaluated (evenly spaced)")
    p.add_argument("--curve-n", type=int, default=1000, help="test images of each learning-curve point (evenly spaced)")
    p.add_argument("--curve-every-s", type=float, default=None, help="default: budget / 10")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a new folder under /tmp)")
    p.add_argument("--no-record", action="store_true",
                   help="smoke test: do not append to benchmarks/results/*.jsonl; grid goes to the run dir")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    data = common.data_dir()
    train = dgm.data.load("binarized-mnist", split="train", data_dir=data, download=False)
    test = dgm.data.load("binarized-mnist", split="test", data_dir=data, download=False)
    run_dir = args.out or Path(tempfile.mkdtemp(prefix=f"dgm-bench-{args.model}-"))

    fit = fit_with_curve(args, ARCH[args.model], train, test, run_dir, threads, precision=args.precision)
    model, config, trainer, curve, last = fit.model, fit.config, fit.trainer, fit.curve, fit.last
    fit_s, train_s, params = fit.fit_s, fit.train_s, fit.params
    steps = trainer.step

    model.eval()
    t1 = time.perf_counter()
    result = negative_log_likelihood(model, spread_subset(test, args.eval_n), batch_size=250)
    eval_s = time.perf_counter() - t1
    nll = result["nll_nats"]
    final_subset = nll if args.eval_n == args.curve_n else \
        negative_log_likelihood(model, curve.data, batch_size=250)["nll_nats"]
    if not curve.points or curve.points[-1][1] != steps:
        curve.points.append([round(train_s, 1), steps, round(final_subset, 4)])
    t2 = time.perf_counter()
    samples = model.sample(64, generator=torch.Generator().manual_seed(1234))
    sample_s = time.perf_counter() - t2
    grid_dir = run_dir if args.no_record else common.RESULTS
    grid = save_grid(samples, grid_dir / f"pixelcnn_binarized_mnist_{args.model}.png", nrow=8)
    print(f"trained {steps} steps in {train_s:.1f} s; test NLL {nll:.2f} nats ({result['bits_per_dim']:.4f} "
          f"bits/dim) on {result['n']} images; 64 samples in {sample_s:.1f} s", file=sys.stderr)

    full = args.eval_n >= FULL["eval_n"] and args.budget_s <= FULL["budget_s"]
    record = {
        "benchmark": "pixelcnn_binarized_mnist", "metric": "test_nll_nats", "value": round(nll, 3),
        "model": args.model, "target": TARGET, "anchor": ANCHOR,
        "meets_target": (nll <= TARGET) if full else None, "full_setting": full,
        "bits_per_dim": round(result["bits_per_dim"], 5), "eval_n": result["n"], "eval_s": round(eval_s, 1),
        "curve": {"columns": ["train_s", "step", f"test_nll_nats_{args.curve_n}_spread"], "points": curve.points},
        "budget_s": args.budget_s, "train_s": round(train_s, 1), "fit_s": round(fit_s, 1), "steps": steps,
        "samples_per_s": round(steps * args.batch_size / train_s, 1),
        "epochs": round(steps * args.batch_size / len(train), 2),
        "train_loss_last": round(last.get("loss", float("nan")), 3), "nonfinite_skipped": trainer.nonfinite_total,
        "batch_size": args.batch_size, "lr": args.lr, "lr_min": args.lr_min, "schedule": args.schedule,
        "grad_clip": args.grad_clip, "precision": args.precision, "seed": args.seed,
        "model_config": to_dict(config),
        "params": params, "sample_64_s": round(sample_s, 2), "threads": threads, "load_avg_start": load_start,
        "run_dir": str(run_dir), "artifacts": [common.rel(grid)],
    }
    if not math.isfinite(nll):
        record["error"] = "non-finite test NLL"
    common.emit(record, "pixelcnn_binarized_mnist", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
