"""RealNVP / Glow on 8-bit MNIST (uniformly dequantised), trained for 30 minutes through `dgm`; test bits/dim
on the 10k test images, with sample grids at temperatures 1.0 and 0.7.

The figure (the issue's): test bits/dim <= 1.6 within 30 minutes of training on 2 CPU threads (anchor: Glow
1.05 bits/dim). Convention: x = (k + u) / 256 with one u per test image from a fixed seed, and
bits/dim = -(log p(x) - D ln 256) / (D ln 2), the preprocessing (logit) Jacobian included: an upper bound on
the bits/dim of the discrete data. Everything the figure needs is in configs/<model>_mnist.yaml (learning
curve on 1000 validation images carved from train included); this script runs

    dgm train MODEL --config configs/MODEL_mnist.yaml --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics nll -n 10000 --json
    dgm sample RUN -n 64 --temperature T --out GRID.png        # T = 1.0 and 0.7

    PYTHONPATH=src python3 benchmarks/flow_mnist.py --model realnvp
    PYTHONPATH=src python3 benchmarks/flow_mnist.py --model glow
    PYTHONPATH=src python3 benchmarks/flow_mnist.py --model glow --budget 20 --eval-n 200 --no-record
"""
from __future__ import annotations

import argparse
import sys

import common  # first: puts src/ on sys.path when needed
import cli_run

import dgm.data

TARGET, ANCHOR = 1.6, 1.05  # test bits/dim
FULL = {"budget": 1800.0, "eval_n": 10000}
TEMPERATURES = (1.0, 0.7)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=("glow", "realnvp"), default="glow")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        args, args.model, f"configs/{args.model}_mnist.yaml", ["--metrics", "nll"], data_dir, threads)
    result = ev["nll"]
    bpd = result["bits_per_dim"]
    grids = []
    for temp in TEMPERATURES:
        out = (run_dir if args.no_record else common.RESULTS) / f"flow_mnist_{args.model}_t{temp:g}.png"
        cli_run.dgm(["sample", str(run_dir), "-n", "64", "--temperature", f"{temp:g}", "--seed", "1234",
                     "--out", str(out)])
        grids.append(common.rel(out))
    train = dgm.data.load("mnist", split="train", data_dir=data_dir, download=False)
    budget = summary["train_settings"]["time_budget_s"]
    full = result["n"] >= FULL["eval_n"] and budget <= FULL["budget"] and not args.set
    record = {
        "benchmark": "flow_mnist", "metric": "test_bits_per_dim", "value": round(bpd, 4), "model": args.model,
        "target": TARGET, "anchor": ANCHOR, "meets_target": (bpd <= TARGET) if full else None,
        "full_setting": full, "nll_nats": round(result["nll_nats"], 2), "eval_n": result["n"],
        "convention": result.get("likelihood_note"), "temperatures": list(TEMPERATURES),
        **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start),
        "artifacts": grids,
    }
    cli_run.finish(record, run_dir, train, summary, "flow_mnist", not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
