"""Improved DDPM on MNIST trained for 30 minutes through `dgm`: the variational bound on the test images in
nats and bits/dim (an upper bound on the NLL of the discrete data, the project's convention), with its curve
over training on validation images.

    PYTHONPATH=src python3 benchmarks/diffusion_vlb.py
    PYTHONPATH=src python3 benchmarks/diffusion_vlb.py --budget 20 --eval-n 20 --bound-terms 5 --no-record  # smoke

Runs
    dgm train improved-ddpm --config configs/improved_ddpm_mnist.yaml --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics nll -n 10000 --bound-terms K --json
The bound sums T = 1000 terms per image; --bound-terms K estimates it without bias from L_0 and K strata of
the other steps (one step drawn per stratum and image), K + 1 network passes per image instead of T; the
record gives the standard error over the images, which includes the estimate's own noise. The curve is the
YAML's: the same estimate on 500 validation images every 300 training seconds.
"""
from __future__ import annotations

import argparse
import sys

import common  # first: puts src/ on sys.path when needed
import cli_run

import dgm.data

CONFIG = "configs/improved_ddpm_mnist.yaml"
FULL = {"budget": 1800.0, "eval_n": 10000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bound-terms", type=int, default=50, help="strata of the test bound's estimate (0: all T)")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    bound = ["--bound-terms", str(args.bound_terms)] if args.bound_terms else []
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        args, "improved-ddpm", CONFIG, ["--metrics", "nll", *bound], data_dir, threads)
    nll = ev["nll"]
    budget = summary["train_settings"]["time_budget_s"]
    full = nll["n"] >= FULL["eval_n"] and budget <= FULL["budget"] and not args.set
    record = {
        "benchmark": "diffusion_vlb", "metric": "test_bits_per_dim", "value": round(nll["bits_per_dim"], 4),
        "model": "improved-ddpm", "variant": f"improved-ddpm ({CONFIG}), bound: {nll['bound']}",
        "full_setting": full, "nll_nats": round(nll["nll_nats"], 2), "stderr_nats": round(nll["stderr_nats"], 3),
        "eval_n": nll["n"], "bound": nll["bound"], "kind": nll["kind"],
        **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start),
        "artifacts": [cli_run.keep_grid(run_dir, "diffusion_vlb_improved_ddpm", not args.no_record)],
    }
    train = dgm.data.load("mnist", split="train", data_dir=data_dir, download=False)
    cli_run.finish(record, run_dir, train, summary, "diffusion_vlb", not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
