"""PixelCNN kernel size and learning rate (Gated PixelCNN: learning rate) chosen on binarized MNIST's validation
split: short trials of the figure's YAML, each scored by the exact NLL of the 10k validation images, never the
test split.

configs/pixelcnn_binarized_mnist.yaml's kernel (5) and lr (2e-3) were first chosen on test-split curves; this
benchmark redid the choice (lr 4e-3 since). It tries each kernel at the YAML's lr and the YAML's lr times 1/4,
1/2, 1, 2 at its kernel (--lr-factors); while the best lr is the grid's largest (smallest), it tries twice
(half) that lr too, up to --extend more trials, so the chosen lr is never an untested edge. Each trial runs

    dgm train pixelcnn --config configs/pixelcnn_binarized_mnist.yaml --time-budget 150 --set model.kernel=K \
        --set train.lr=LR --set train.num_samples=4 --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics nll --split valid -n 10000 --json

(the cosine schedule then runs over the 150 s; the final grid holds 4 images, since PixelSNAIL's naive sampler
would spend minutes on 64 that the trial never looks at), and the record holds every trial, the one with the lowest
validation NLL, and whether the YAML's values are that one. One seed per trial: the gaps it chooses between
are stated next to the spread of the seeds it could afford (--seeds).

    PYTHONPATH=src python3 benchmarks/pixelcnn_selection.py
    PYTHONPATH=src python3 benchmarks/pixelcnn_selection.py --model gated-pixelcnn
    PYTHONPATH=src python3 benchmarks/pixelcnn_selection.py --budget 5 --eval-n 100 --no-record   # smoke
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import cli_run
import yaml

from pixelcnn_binarized_mnist import CONFIGS

KERNELS = {"pixelcnn": (3, 5, 7)}  # kernels tried at the YAML's lr (the gated nets: none)
LR_FACTORS = (0.25, 0.5, 1.0, 2.0)  # lrs tried at the YAML's kernel: around the YAML's, so an edge shows


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(CONFIGS), default="pixelcnn")
    p.add_argument("--budget", type=float, default=150.0, help="training seconds per trial")
    p.add_argument("--eval-n", type=int, default=10000, help="validation images scored")
    p.add_argument("--seeds", type=int, default=1, help="seeds of the YAML's own setting (the noise level)")
    p.add_argument("--lr-factors", default=",".join(f"{f:g}" for f in LR_FACTORS),
                   help="the lrs tried at the YAML's kernel, as multiples of the YAML's lr")
    p.add_argument("--extend", type=int, default=2, help="at most this many extra lrs past an edge that wins")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="smoke test: nothing appended to benchmarks/results")
    return p.parse_args(argv)


def trials(model: str, yaml_kernel: int | None, yaml_lr: float, factors=LR_FACTORS) -> list[dict]:
    """A cross through the YAML's values: each kernel at its lr, each lr (its lr times ``factors``) at its
    kernel."""
    grid = [(k, yaml_lr) for k in KERNELS.get(model, ())]
    grid += [(yaml_kernel, yaml_lr * f) for f in factors if (yaml_kernel, yaml_lr * f) not in grid]
    return [{"kernel": k, "lr": lr} for k, lr in grid]


def past_the_edge(results: list[dict], kernel: int | None) -> dict | None:
    """The next trial when the best lr at ``kernel`` is the largest (or smallest) tried: twice (half) it."""
    at_kernel = [r for r in results if r["kernel"] == kernel]
    if len({r["lr"] for r in at_kernel}) < 2:
        return None
    best = min(at_kernel, key=lambda r: r["valid_nll_nats"])["lr"]
    lrs = sorted({r["lr"] for r in at_kernel})
    if best == lrs[-1]:
        return {"kernel": kernel, "lr": best * 2}
    if best == lrs[0]:
        return {"kernel": kernel, "lr": best / 2}
    return None


def run_trial(trial: dict, seed: int, args, data_dir: Path, threads: int) -> dict:
    """Train one trial through `dgm` and score it on the validation split."""
    import tempfile

    ns = argparse.Namespace(budget=args.budget, seed=seed, eval_n=args.eval_n, out=Path(tempfile.mkdtemp(
        prefix="dgm-select-")) / "run", set=[f"train.lr={trial['lr']:g}", "train.num_samples=4"] + (
            [f"model.kernel={trial['kernel']}"] if trial["kernel"] is not None else []))
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        ns, args.model, CONFIGS[args.model], ["--metrics", "nll", "--split", "valid"], data_dir, threads)
    return {**trial, "seed": seed, "valid_nll_nats": round(ev["nll"]["nll_nats"], 3), "eval_n": ev["nll"]["n"],
            "steps": summary["steps"], "train_s": summary["train_s"],
            "command": f"{cli_run.command(train_argv)} && {cli_run.command(eval_argv)}"}


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    config = yaml.safe_load((common.REPO / CONFIGS[args.model]).read_text())
    yaml_kernel, yaml_lr = config["model"].get("kernel"), float(config["train"]["lr"])
    results = []
    factors = tuple(float(f) for f in args.lr_factors.split(","))
    for trial in trials(args.model, yaml_kernel, yaml_lr, factors):
        seeds = range(args.seeds) if (trial["kernel"], trial["lr"]) == (yaml_kernel, yaml_lr) else range(1)
        results += [run_trial(trial, s, args, data_dir, threads) for s in seeds]
        print(results[-1], file=sys.stderr, flush=True)
    for _ in range(args.extend):
        trial = past_the_edge(results, yaml_kernel)
        if trial is None:
            break
        results.append(run_trial(trial, 0, args, data_dir, threads))
        print(results[-1], file=sys.stderr, flush=True)
    best = min(results, key=lambda r: r["valid_nll_nats"])
    full = args.budget >= 150 and args.eval_n >= 10000
    record = {
        "benchmark": "pixelcnn_selection", "metric": "valid_nll_nats", "value": best["valid_nll_nats"],
        "variant": f"{args.model} kernel x lr on validation, {args.budget:g} s trials: best kernel {best['kernel']}, "
                   f"lr {best['lr']:g}" + ("" if (best["kernel"], best["lr"]) == (yaml_kernel, yaml_lr)
                                           else f" (the YAML has kernel {yaml_kernel}, lr {yaml_lr:g})"),
        "model": args.model, "split": "valid", "config": CONFIGS[args.model], "budget_s": args.budget, "full_setting": full,
        **common.selection_fields(results, ("kernel", "lr"), (yaml_kernel, yaml_lr), "valid_nll_nats",
                                  "yaml_seed_spread_nats"),
        "threads": threads, "load_avg_start": load_start,
    }
    common.emit(record, "pixelcnn_selection", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
