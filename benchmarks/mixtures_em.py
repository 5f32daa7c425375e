"""Mixtures by EM, issue 21's classical figures: Gaussian mixtures on ring8 and grid25 (every mode recovered: a
component mean within one standard deviation of each true mode; test log-likelihood of the points) and the
mixture of Bernoullis on binarized MNIST (test NLL in nats with K = 10, 50, 100), each over seeds 0, 1, 2.
The settings are in configs/gmm_ring8.yaml, configs/gmm_grid25.yaml and
configs/bernoulli_mixture_binarized_mnist.yaml; this script runs, per seed S (and K),

    dgm train gmm --config configs/gmm_ring8.yaml --seed S --threads 2 --no-progress --out RUN
    dgm train bernoulli-mixture --config configs/bernoulli_mixture_binarized_mnist.yaml --set model.components=K ...
    dgm eval RUN --metrics nll -n 10000 --json

    PYTHONPATH=src python3 benchmarks/mixtures_em.py --figure toys
    PYTHONPATH=src python3 benchmarks/mixtures_em.py --figure bernoulli
    PYTHONPATH=src python3 benchmarks/mixtures_em.py --figure bernoulli --components 10 --seeds 0 \\
        --set train.steps=3 --eval-n 200 --no-record   # smoke

One JSON record per toy (value: the fewest modes recovered over the seeds) and per K (value: the mean test
NLL over the seeds), every seed's figure in it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import cli_run
import torch
from gan_toy2d import TOYS

import dgm.data
from dgm.runs import load_run

CONFIGS = {"ring8": "configs/gmm_ring8.yaml", "grid25": "configs/gmm_grid25.yaml",
           "bernoulli": "configs/bernoulli_mixture_binarized_mnist.yaml"}
PAPER = "no published anchor; the classical baseline the lecture notes start from"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--figure", choices=("toys", "bernoulli"), default="toys")
    p.add_argument("--components", default="10,50,100", help="bernoulli: the K values, comma-separated")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    cli_run.add_options(p, 10_000)
    return p.parse_args(argv)


def modes_recovered(means: torch.Tensor, centres: torch.Tensor, std: float) -> int:
    """True modes (K, 2) with a component mean (M, 2) within one standard deviation of them."""
    return int((torch.cdist(centres.double(), means.double()).min(1).values < std).sum())


def fit(args, model: str, config: str, seed: int, data_dir: Path, threads: int, extra_sets=()):
    """Train and evaluate one run -> (train argv, eval argv, run dir, summary, nll record)."""
    run_args = argparse.Namespace(**{**vars(args), "seed": seed, "set": [*extra_sets, *args.set], "out": None})
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        run_args, model, config, ["--metrics", "nll"], data_dir, threads)
    return train_argv, eval_argv, run_dir, summary, ev["nll"]


def toys(args, seeds, data_dir, threads, load_start) -> None:
    for toy in ("ring8", "grid25"):
        centres, std, _ = TOYS[toy]
        per_seed = []
        for seed in seeds:
            train_argv, eval_argv, run_dir, summary, nll = fit(args, "gmm", CONFIGS[toy], seed, data_dir, threads)
            model = load_run(run_dir)[0]
            per_seed.append({"seed": seed, "modes_recovered": modes_recovered(model.means, centres, std),
                             "test_log_likelihood": round(-nll["nll_nats"], 4), "steps": summary["steps"],
                             "train_s": summary["train_s"], "command": cli_run.command(train_argv)})
            print(f"{toy} seed {seed}: {per_seed[-1]['modes_recovered']}/{len(centres)} modes, test log-lik "
                  f"{per_seed[-1]['test_log_likelihood']}", file=sys.stderr, flush=True)
        record = {
            "benchmark": "mixtures_em", "metric": "modes_recovered_min", "value": min(r["modes_recovered"]
                                                                                      for r in per_seed),
            "model": "gmm", "variant": f"gmm {toy}, {summary['model_config']['components']} full Gaussians",
            "modes": len(centres), "radius": f"one std ({std})", "per_seed": per_seed,
            "test_log_likelihood_mean": round(statistics.mean(r["test_log_likelihood"] for r in per_seed), 4),
            "target": f"every mode recovered ({len(centres)}/{len(centres)}) for every seed",
            "meets_target": all(r["modes_recovered"] == len(centres) for r in per_seed),
            **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start)}
        record["seed"] = seeds
        train = dgm.data.load(toy, split="train")
        cli_run.finish(record, run_dir, train, summary, "mixtures_em", not args.no_record)


def bernoulli(args, seeds, data_dir, threads, load_start) -> None:
    train = dgm.data.load("binarized-mnist", split="train", data_dir=data_dir, download=False)
    for k in [int(c) for c in args.components.split(",") if c.strip()]:
        per_seed = []
        for seed in seeds:
            train_argv, eval_argv, run_dir, summary, nll = fit(args, "bernoulli-mixture", CONFIGS["bernoulli"], seed,
                                                               data_dir, threads, [f"model.components={k}"])
            per_seed.append({"seed": seed, "test_nll_nats": round(nll["nll_nats"], 3), "steps": summary["steps"],
                             "train_s": summary["train_s"], "command": cli_run.command(train_argv)})
            print(f"K={k} seed {seed}: test NLL {per_seed[-1]['test_nll_nats']} nats", file=sys.stderr, flush=True)
        values = [r["test_nll_nats"] for r in per_seed]
        record = {
            "benchmark": "mixtures_em", "metric": "test_nll_nats", "value": round(statistics.mean(values), 3),
            "sd": round(statistics.stdev(values), 3) if len(values) > 1 else None, "model": "bernoulli-mixture",
            "variant": f"bernoulli-mixture K={k}, binarized MNIST", "components": k, "per_seed": per_seed,
            "n_test": nll.get("n"), "likelihood": nll.get("kind", "exact"), "paper": PAPER,
            "target": "reported for K = 10, 50, 100 (no threshold)",
            **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start)}
        record["seed"] = seeds
        cli_run.finish(record, run_dir, train, summary, "mixtures_em", not args.no_record)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    (toys if args.figure == "toys" else bernoulli)(args, seeds, data_dir, threads, load_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
