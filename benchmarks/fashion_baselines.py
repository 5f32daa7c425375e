"""The baselines of the two-stage figure: the project's VAE and DCGAN trained on Fashion-MNIST for 60 minutes
(the VQ-VAE's 30 plus its prior's 30), scored like it: FID and IS of 10,000 samples with the bundled
Fashion-MNIST features against the test images.

The figure (issue 17's): the best FID of the three (benchmarks/code_prior_fashion.py holds the two-stage one).
The settings are in configs/vae_fashion_mnist.yaml and configs/gan_dcgan_fashion_mnist.yaml; this script runs

    dgm train MODEL --config CONFIG --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics fid,is -n 10000 --json

    PYTHONPATH=src python3 benchmarks/fashion_baselines.py --model dcgan
    PYTHONPATH=src python3 benchmarks/fashion_baselines.py --model vae
    PYTHONPATH=src python3 benchmarks/fashion_baselines.py --model vae --budget 10 --eval-n 200 --no-record  # smoke

One JSON record; its value is the FID.
"""
from __future__ import annotations

import argparse
import sys

import common  # first: puts src/ on sys.path when needed
import cli_run

import dgm.data

CONFIGS = {"vae": "configs/vae_fashion_mnist.yaml", "dcgan": "configs/gan_dcgan_fashion_mnist.yaml"}
FULL = {"budget": 3600.0, "eval_n": 10000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(CONFIGS), default="vae")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    config = CONFIGS[args.model]
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        args, args.model, config, ["--metrics", "fid,is"], data_dir, threads)
    q = ev["quality"]
    budget = summary["train_settings"]["time_budget_s"]
    record = {
        "benchmark": "fashion_baselines", "metric": "fid", "value": round(q["fid"], 3), "model": args.model,
        "variant": f"{args.model} ({config}), {q['protocol']['n_samples']} samples",
        "is": round(q["is"]["is_mean"], 4), "samples": q["protocol"].get("samples"),
        "feature_net": q["protocol"]["feature_net"],
        "target": "the best FID of three at 60 minutes: the two-stage VQ-VAE + prior, this VAE, this DCGAN",
        "full_setting": q["protocol"]["n_samples"] >= FULL["eval_n"] and budget == FULL["budget"] and not args.set,
        **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start),
    }
    record["sample_s"] = cli_run.eval_record(run_dir).get("sample_s")
    record["artifacts"] = [cli_run.keep_grid(run_dir, f"fashion_baselines_{args.model}", not args.no_record)]
    train = dgm.data.load("fashion-mnist", split="train", data_dir=data_dir, download=False)
    cli_run.finish(record, run_dir, train, summary, "fashion_baselines", not args.no_record)
    print(f"FID {record['value']}, IS {record['is']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
