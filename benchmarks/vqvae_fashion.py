"""VQ-VAE on Fashion-MNIST trained for 30 minutes through `dgm`, with and without dead-code restarts: test
reconstruction MSE and PSNR, and how much of the K = 512 codebook the test images use.

The figure (the issue's): with EMA and restarts, >= 90% of the codes used, against the same run without
restarts (both reported, with their MSE and PSNR). Everything is in configs/vqvae_fashion_mnist.yaml; this
script runs, for restarts on and off,

    dgm train vqvae --config configs/vqvae_fashion_mnist.yaml --threads 2 --no-progress --out RUN [--set model.restart_every=0]
    dgm eval RUN --metrics recon -n 10000 --json

    PYTHONPATH=src python3 benchmarks/vqvae_fashion.py
    PYTHONPATH=src python3 benchmarks/vqvae_fashion.py --budget 20 --eval-n 200 --no-record     # smoke test

One JSON record; its value is the restart run's fraction of codes used.
"""
from __future__ import annotations

import argparse
import copy
import sys

import common  # first: puts src/ on sys.path when needed
import cli_run

import dgm.data

CONFIG = "configs/vqvae_fashion_mnist.yaml"
USAGE_TARGET = 0.90
FULL = {"budget": 1800.0, "eval_n": 10000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    rows, commands, first = [], [], None
    for restarts in (True, False):
        run_args = copy.copy(args)
        run_args.set = list(args.set) + ([] if restarts else ["model.restart_every=0"])
        if args.out:
            run_args.out = args.out / ("restarts" if restarts else "no-restarts")
        train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
            run_args, "vqvae", CONFIG, ["--metrics", "recon"], data_dir, threads)
        rec = ev["reconstruction"]
        rows.append({"restarts": restarts, "mse": round(rec["mse"], 6), "psnr_db": round(rec["psnr_db"], 3),
                     "codes_used": round(rec["codes_used"], 4), "code_perplexity": round(rec["code_perplexity"], 1),
                     "n": rec["n"], "steps": summary["steps"], "samples_per_s": summary["samples_per_s"],
                     "run_dir": str(run_dir), **({"curve": summary["curve"]} if "curve" in summary else {})})
        commands.append(f"{cli_run.command(train_argv)} && {cli_run.command(eval_argv)}")
        first = first or (train_argv, eval_argv, run_dir, summary)
        print(rows[-1], file=sys.stderr, flush=True)
    train_argv, eval_argv, run_dir, summary = first
    head = rows[0]
    budget = summary["train_settings"]["time_budget_s"]
    full = head["n"] >= FULL["eval_n"] and budget <= FULL["budget"] and not args.set
    record = {
        "benchmark": "vqvae_fashion", "metric": "codes_used", "value": head["codes_used"], "model": "vqvae",
        "variant": f"vqvae ({CONFIG}), EMA + restarts vs no restarts, {head['n']} test images",
        "mse": head["mse"], "psnr_db": head["psnr_db"], "target": {"codes_used": USAGE_TARGET},
        "meets_target": head["codes_used"] >= USAGE_TARGET if full else None, "full_setting": full, "runs": rows,
        **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start),
        "command": " ; ".join(commands),
    }
    train = dgm.data.load("fashion-mnist", split="train", data_dir=data_dir, download=False)
    cli_run.finish(record, run_dir, train, summary, "vqvae_fashion", not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
