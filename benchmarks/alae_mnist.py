"""ALAE on MNIST through `dgm` (issue 20): 30 minutes of `alae` (the paper's MLP version) or `alae-style` (a small
StyleALAE), then FID with the bundled MNIST classifier's features of 10,000 samples and of the reconstructions of
the 10,000 test images, both against the test images, and a grid of test images above their reconstructions:

    dgm train alae[-style] --config configs/alae_mnist.yaml --seed S --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics fid,recon --reconstructions -n 10000 --json
    dgm viz RUN reconstructions --out benchmarks/results/alae_mnist_<model>_reconstructions.png

The record's value is the samples' FID; the reconstructions' FID and MSE sit beside it. For scale: the same
features give real training images about 1 against the test images (`dgm eval --reference mnist`).

    PYTHONPATH=src python3 benchmarks/alae_mnist.py --model alae
    PYTHONPATH=src python3 benchmarks/alae_mnist.py --model alae-style
    PYTHONPATH=src python3 benchmarks/alae_mnist.py --budget 20 --eval-n 500 --no-record   # smoke test
"""
from __future__ import annotations

import argparse
import shutil
import sys

import common  # first: puts src/ on sys.path when needed
import cli_run

import dgm.data

CONFIG = "configs/alae_mnist.yaml"
FULL = {"budget": 1800.0, "eval_n": 10000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=("alae", "alae-style"), default="alae")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        args, args.model, CONFIG, ["--metrics", "fid,recon", "--reconstructions"], data_dir, threads)
    grid = run_dir / "reconstructions.png"
    viz_argv = ["viz", str(run_dir), "reconstructions", "--out", str(grid), "--data-dir", str(data_dir)]
    cli_run.dgm(viz_argv)
    artifacts = []
    if not args.no_record:
        kept = common.RESULTS / f"alae_mnist_{args.model}_reconstructions.png"
        shutil.copyfile(grid, kept)
        artifacts = [common.rel(kept), cli_run.keep_grid(run_dir, f"alae_mnist_{args.model}_samples", True)]
    samples, recs = ev["quality"], ev["quality_reconstructions"]
    full = summary["train_settings"]["time_budget_s"] <= FULL["budget"] and samples["protocol"]["n_samples"] >= \
        FULL["eval_n"] and not args.set
    record = {"benchmark": "alae_mnist", "metric": "fid_samples", "value": round(samples["fid"], 3),
              "model": args.model, "variant": f"{args.model} ({CONFIG})" + "".join(f", {s}" for s in args.set),
              "fid_reconstructions": round(recs["fid"], 3), "reconstruction": ev["reconstruction"],
              "features": samples["protocol"]["feature_net"], "n_samples": samples["protocol"]["n_samples"],
              "target": "reported (no threshold in the issue)", "full_setting": full, "artifacts": artifacts,
              **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start)}
    record["command"] += f" && {cli_run.command(viz_argv)}"
    train = dgm.data.load("mnist", split="train", data_dir=data_dir, download=False)
    cli_run.finish(record, run_dir, train, summary, "alae_mnist", not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
