"""The DDPM network size and learning rate for 2 CPU cores, chosen on MNIST validation images: short trials of
configs/ddpm_mnist.yaml, each scored by the FID of its samples against 1000 validation images carved from
train (the trainer's own periodic validation, run once at the end of the trial), never the test split.

The YAML's network (channels 32, widths 1-2-2) trains about 62 images/s here; channels 16 with widths 1-2-4
(the same 64 channels at 7x7) about twice that, so in a fixed budget it sees twice the images. Each trial runs

    dgm train ddpm --config configs/ddpm_mnist.yaml --time-budget 600 --set train.lr=LR [--set model...] \
        --set train.eval_every_s=1000000 --set train.eval_n=1000 --threads 2 --no-progress --out RUN

(the cosine schedule then runs over the trial's budget; validation: FID of 1000 DDIM-50 samples in the bundled
MNIST features), and the record holds every trial, the best, and whether the YAML's values are it. Short
trials favour what learns fastest; the 30-minute figure then confirms the choice or not.

    PYTHONPATH=src python3 benchmarks/diffusion_selection.py
    PYTHONPATH=src python3 benchmarks/diffusion_selection.py --budget 10 --eval-n 20 --lrs 0.001 --no-record  # smoke
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import cli_run
import yaml

CONFIG = "configs/ddpm_mnist.yaml"
NETWORKS = {"c32-122": [], "c16-124": ["model.channels=16", "model.channel_mult=[1,2,4]"]}  # first: the YAML's


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=600.0, help="training seconds per trial")
    p.add_argument("--eval-n", type=int, default=1000, help="validation images (and samples) of each FID")
    p.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated, of {', '.join(NETWORKS)}")
    p.add_argument("--lrs", default="0.0005,0.001,0.002", help="comma-separated learning rates")
    p.add_argument("--seeds", type=int, default=1, help="seeds of the YAML's own trial (its spread)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="smoke test: nothing appended to benchmarks/results")
    return p.parse_args(argv)


def run_trial(network: str, lr: float, seed: int, args, data_dir: Path, threads: int) -> dict:
    """Train one trial through `dgm`; its validation FID is the run's last curve point."""
    ns = argparse.Namespace(budget=args.budget, seed=seed, out=Path(tempfile.mkdtemp(prefix="dgm-select-")) / "run",
                            set=[f"train.lr={lr:g}", "train.eval_every_s=1000000", f"train.eval_n={args.eval_n}",
                                 *NETWORKS[network]])
    train_argv, run_dir, summary = cli_run.train(ns, "ddpm", CONFIG, data_dir, threads)
    columns, points = summary["curve"]["columns"], summary["curve"]["points"]
    return {"network": network, "lr": lr, "seed": seed, "valid_fid": points[-1][-1], "metric": columns[-1],
            "eval_n": args.eval_n, "steps": summary["steps"], "samples_per_s": summary["samples_per_s"],
            "command": cli_run.command(train_argv)}


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    yaml_lr = float(yaml.safe_load((common.REPO / CONFIG).read_text())["train"]["lr"])
    own = (next(iter(NETWORKS)), yaml_lr)
    results = []
    for network in args.networks.split(","):
        for lr in (float(v) for v in args.lrs.split(",")):
            for seed in range(args.seeds if (network, lr) == own else 1):
                results.append(run_trial(network, lr, seed, args, data_dir, threads))
                print(results[-1], file=sys.stderr, flush=True)
    best = min(results, key=lambda r: r["valid_fid"])
    record = {
        "benchmark": "diffusion_selection", "metric": "valid_fid", "value": best["valid_fid"], "model": "ddpm",
        "variant": f"ddpm network x lr on validation, {args.budget:g} s trials: best {best['network']}, lr "
                   f"{best['lr']:g}" + ("" if (best["network"], best["lr"]) == own
                                       else f" (the YAML has {own[0]}, lr {own[1]:g})"),
        "split": "valid-carved", "config": CONFIG, "budget_s": args.budget,
        "full_setting": args.budget >= 600 and args.eval_n >= 1000,
        **common.selection_fields(results, ("network", "lr"), own, "valid_fid", "yaml_seed_spread"),
        "threads": threads, "load_avg_start": load_start,
    }
    common.emit(record, "diffusion_selection", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
