"""The RBM, DBN and DBM figures of issue 21 on binarized MNIST, 2 CPU cores. RBM (--model rbm): 500 binary hidden
units, 20 minutes of training, the test log-likelihood estimated by AIS with its interval; anchors (Salakhutdinov
and Murray 2008, far longer training): CD-1 -125.53, CD-3 -105.50, CD-25 -86.34 nats; goal: better than -90
nats. DBN (--model dbn): 784-500-2000 trained greedily in 20 minutes (the issue allows 60; three seeds fit in
that hour), the variational lower bound with the top RBM's log Z by AIS (the paper: -86.22 nats). DBM (--model
dbm): 784-500-1000 pretrained and trained jointly in 20 minutes, the mean-field bound with log Z by AIS
(Salakhutdinov and Hinton 2009: -84.62 nats). Also the speed of the (top) RBM's block Gibbs sampler (sweeps per
second of 100 chains) and the AIS estimate's run time.

--figure select chooses configs/rbm_binarized_mnist.yaml's method and learning rate on the validation split:
short trials (--budget, 240 s) of PCD at the YAML's lr times 1/4, 1, 4 and of CD-10 at the YAML's lr, each

    dgm train rbm --config configs/rbm_binarized_mnist.yaml --time-budget 240 --set train.lr=LR \\
        [--set model.persistent=false --set model.cd_k=10] --set train.eval_every_s=0 --threads 2 --no-progress
    dgm eval RUN --metrics nll --split valid -n 10000 --json

scored by the AIS estimate of the validation NLL (the linear decay then runs over the trial's budget; a trial
whose estimate is unreliable, ESS under 10% of the AIS runs, cannot be chosen); while the
best lr is an edge of those tried, one more lr past it (--extend). --figure select --model dbm chooses
configs/dbm_binarized_mnist.yaml's joint-phase chain sweeps per step (1, the paper's 5) and lr (the YAML's and a
quarter of it, in every phase) the same way (--set model.joint_sweeps=S); --figure select --model dbn chooses
configs/dbn_binarized_mnist.yaml's training method (PCD, CD-1) and top layer's lr factor (the YAML's, a quarter of
it: --set model.layer_lr_scales=[...]) in 600-s trials, the top RBM having grown too sharp for AIS only after
minutes. --figure test (the default) runs the model's YAML
as it is over seeds 0, 1, 2 (--seeds):

    dgm train rbm --config configs/rbm_binarized_mnist.yaml --seed S --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics nll -n 10000 --json
    (--model dbn / dbm: dgm train dbn --config configs/dbn_binarized_mnist.yaml ..., likewise dbm)

    PYTHONPATH=src python3 benchmarks/rbm_binarized_mnist.py --figure select
    PYTHONPATH=src python3 benchmarks/rbm_binarized_mnist.py --figure select --model dbm
    PYTHONPATH=src python3 benchmarks/rbm_binarized_mnist.py --figure select --model dbn
    PYTHONPATH=src python3 benchmarks/rbm_binarized_mnist.py
    PYTHONPATH=src python3 benchmarks/rbm_binarized_mnist.py --model dbn
    PYTHONPATH=src python3 benchmarks/rbm_binarized_mnist.py --seeds 0 --budget 5 --eval-n 200 \\
        --set model.ais_steps=100 --no-record   # smoke
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import cli_run
import torch
import yaml

import dgm.data
from dgm.runs import load_run

CONFIG = "configs/rbm_binarized_mnist.yaml"
CONFIGS = {"rbm": CONFIG, "dbn": "configs/dbn_binarized_mnist.yaml", "dbm": "configs/dbm_binarized_mnist.yaml"}
# Salakhutdinov and Murray 2008: RBMs with 500 hidden units, the 784-500-2000 DBN's bound; Salakhutdinov and
# Hinton 2009: the 784-500-1000 DBM's bound
PAPER = {"rbm": {"CD-1": -125.53, "CD-3": -105.50, "CD-25": -86.34}, "dbn": {"DBN 500-2000 (bound)": -86.22},
         "dbm": {"DBM 500-1000 (bound)": -84.62}}
GOAL = {"rbm": -90.0, "dbn": None, "dbm": None}
LR_FACTORS = (0.25, 1.0, 4.0)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--figure", choices=("test", "select"), default="test")
    p.add_argument("--model", choices=sorted(CONFIGS), default="rbm", help="the model")
    p.add_argument("--seeds", default="0,1,2", help="test: comma-separated training seeds")
    p.add_argument("--extend", type=int, default=1, help="select: at most this many lrs past an edge that wins")
    p.add_argument("--runs", default="", help="test: comma-separated finished runs, one per seed, evaluated as they "
                   "are instead of training (e.g. again with more AIS temperatures)")
    p.add_argument("--trained-at", default="", help="with --runs: the commit the runs were trained at (recorded)")
    p.add_argument("--ais-steps", type=int, default=None, help="dgm eval --ais-steps (default: the run's)")
    p.add_argument("--ais-runs", type=int, default=None, help="dgm eval --ais-runs (default: the run's)")
    cli_run.add_options(p, 10_000)
    return p.parse_args(argv)


@torch.no_grad()
def gibbs_sweeps_per_s(model, chains: int = 100, sweeps: int = 1000) -> float:
    """Block-Gibbs sweeps per second of ``chains`` parallel chains, after 20 warm-up sweeps: the RBM's (v -> h
    -> v), a DBN's top RBM's, a DBM's (h1 | v, h2, then v, h2 | h1)."""
    sampler = getattr(model, "layer", None) or (model.top if hasattr(model, "layers") else model)
    width = sum(model.sizes) if sampler is model else sampler.visible
    v = (torch.rand(chains, width) < 0.5).float()
    sampler.gibbs(v, 20)
    start = time.perf_counter()
    sampler.gibbs(v, sweeps)
    return sweeps / (time.perf_counter() - start)


def rbm_plan(config: dict) -> tuple[tuple[str, ...], tuple, list[dict]]:
    """The RBM's trials: PCD at the YAML's lr times 1/4, 1, 4 and CD-10 at the YAML's lr."""
    lr = float(config["train"]["lr"])
    own = ("pcd" if config["model"].get("persistent") else f"cd-{config['model'].get('cd_k', 1)}", lr)
    trials = [{"method": "pcd", "lr": lr * f} for f in LR_FACTORS] + [{"method": "cd-10", "lr": lr}]
    return ("method", "lr"), own, trials


def dbm_plan(config: dict) -> tuple[tuple[str, ...], tuple, list[dict]]:
    """The DBM's trials: the joint phase's chain sweeps per step (1, the paper's 5) x lr (the YAML's, a quarter
    of it), the lr running every phase."""
    lr, sweeps = float(config["train"]["lr"]), int(config["model"].get("joint_sweeps", 1))
    lrs = (lr, lr / 4)
    return ("joint_sweeps", "lr"), (sweeps, lr), [{"joint_sweeps": j, "lr": x} for j in (1, 5) for x in lrs]


def dbn_plan(config: dict) -> tuple[tuple[str, ...], tuple, list[dict]]:
    """The DBN's trials: its layers trained by PCD or CD-1 x the top layer's lr factor (the YAML's, a quarter of
    it), the bottom's as the YAML has it. The top RBM is what grows too sharp for AIS (docs/classical.md)."""
    m = config["model"]
    scales = [float(x) for x in m.get("layer_lr_scales") or [1.0] * len(m["hidden"])]
    own = ("pcd" if m.get("persistent") else f"cd-{m.get('cd_k', 1)}", scales[-1])
    lr = float(config["train"]["lr"])
    trials = [{"method": method, "top_lr_scale": f, "lr_scales": [*scales[:-1], f], "lr": lr}
              for method in ("pcd", "cd-1") for f in (scales[-1], scales[-1] / 4)]
    return ("method", "top_lr_scale"), own, trials


def trial_sets(trial: dict) -> list[str]:
    """--set overrides of one trial."""
    sets = [f"train.lr={trial['lr']:g}"]
    if trial.get("method", "pcd") != "pcd":
        sets += ["model.persistent=false", f"model.cd_k={trial['method'].split('-')[1]}"]
    if "lr_scales" in trial:
        sets.append(f"model.layer_lr_scales=[{','.join(f'{x:g}' for x in trial['lr_scales'])}]")
    if "joint_sweeps" in trial:
        sets.append(f"model.joint_sweeps={trial['joint_sweeps']}")
    return sets


def select(args, data_dir: Path, threads: int, load_start) -> None:
    name = args.model
    config = yaml.safe_load((common.REPO / CONFIGS[name]).read_text())
    keys, own, plan = {"rbm": rbm_plan, "dbn": dbn_plan, "dbm": dbm_plan}[name](config)
    # the DBN's top RBM sharpened only after minutes of training: its trials run longer
    budget = args.budget or (600.0 if name == "dbn" else 240.0)
    results: list[dict] = []

    def trial(t: dict) -> None:
        sets = [*trial_sets(t), "train.eval_every_s=0", "train.num_samples=16", *args.set]
        ns = argparse.Namespace(**{**vars(args), "budget": budget, "set": sets,
                                   "out": Path(tempfile.mkdtemp(prefix=f"dgm-{name}-select-")) / "run"})
        train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
            ns, name, CONFIGS[name], ["--metrics", "nll", "--split", "valid"], data_dir, threads)
        nll = ev["nll"]
        results.append({**t, "seed": args.seed, "valid_nll_nats": round(nll["nll_nats"], 3),
                        "log_z_stderr": round(nll.get("log_z_stderr", 0.0), 3), "ais_ess": nll.get("ais_ess"),
                        "ais_warning": nll.get("ais_warning"), "eval_n": nll["n"],
                        "steps": summary["steps"], "train_s": summary["train_s"],
                        "command": f"{cli_run.command(train_argv)} && {cli_run.command(eval_argv)}"})
        print(results[-1], file=sys.stderr, flush=True)

    for t in plan:
        trial(t)
    for _ in range(args.extend if name == "rbm" else 0):
        pcd = [r for r in results if r["method"] == "pcd"]
        best = min((r for r in pcd if not r.get("ais_warning")) or pcd, key=lambda r: r["valid_nll_nats"])["lr"]
        lrs = sorted(r["lr"] for r in pcd)
        if best not in (lrs[0], lrs[-1]):
            break
        trial({"method": "pcd", "lr": best * 4 if best == lrs[-1] else best / 4})
    # the choice is selection_fields' (a trial whose AIS estimate is unreliable cannot win there)
    fields = common.selection_fields(results, keys, own, "valid_nll_nats", "yaml_seed_spread_nats")
    best = next((r for r in results if fields["chosen"] and all(r[k] == v for k, v in fields["chosen"].items())),
                None)
    if best is None:
        chosen = "none: every trial's AIS estimate is unreliable (raise --set model.ais_steps=N)"
    else:
        chosen = ", ".join(f"{k} {best[k]:g}" if k == "lr" else f"{k} {best[k]}" for k in keys)
    yours = ", ".join(f"{k} {v:g}" if k == "lr" else f"{k} {v}" for k, v in zip(keys, own))
    what = {"rbm": "rbm 500 hidden, method x lr", "dbn": "dbn 500-2000, method x top layer's lr factor",
            "dbm": "dbm 500-1000, joint sweeps x lr"}[name]
    record = {
        "benchmark": f"{name}_selection", "metric": "valid_nll_nats", "value": best and best["valid_nll_nats"],
        "model": name, "variant": f"{what} on validation, {budget:g} s trials: best {chosen}"
                   + ("" if best and tuple(best[k] for k in keys) == own else f" (the YAML has {yours})"),
        "split": "valid", "config": CONFIGS[name], "budget_s": budget,
        "full_setting": budget >= 240 and args.eval_n >= 10000,
        **fields,
        "threads": threads, "load_avg_start": load_start}
    common.emit(record, f"{name}_selection", save=not args.no_record)


def test(args, data_dir: Path, threads: int, load_start) -> None:
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    reuse = [Path(r) for r in args.runs.split(",") if r.strip()]
    if reuse and len(reuse) != len(seeds):
        raise SystemExit(f"--runs names {len(reuse)} runs for {len(seeds)} seeds")
    eval_options = ["--metrics", "nll"] + (["--ais-steps", str(args.ais_steps)] if args.ais_steps else []) + \
        (["--ais-runs", str(args.ais_runs)] if args.ais_runs else [])
    name, per_seed = args.model, []
    for i, seed in enumerate(seeds):
        ns = argparse.Namespace(**{**vars(args), "seed": seed, "out": None, "run": reuse[i] if reuse else None})
        train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
            ns, name, CONFIGS[name], eval_options, data_dir, threads)
        nll = ev["nll"]
        model = load_run(run_dir)[0]
        per_seed.append({
            "seed": seed, "test_log_likelihood": round(-nll["nll_nats"], 3),
            "interval": [round(-nll["nll_interval_nats"][1], 3), round(-nll["nll_interval_nats"][0], 3)]
            if "nll_interval_nats" in nll else None,
            "log_z": round(nll["log_z"], 3), "log_z_stderr": round(nll.get("log_z_stderr", 0.0), 4),
            "ais_ess": nll.get("ais_ess"), "ais_warning": nll.get("ais_warning"),
            "test_stderr_nats": round(nll["stderr_nats"], 3), "ais_seconds": nll.get("ais_seconds"),
            "gibbs_sweeps_per_s": round(gibbs_sweeps_per_s(model), 1),
            "steps": summary["steps"], "train_s": summary["train_s"], "curve": summary.get("curve"),
            "run_dir": str(run_dir), "command": f"{cli_run.command(train_argv)} && {cli_run.command(eval_argv)}"})
        print({k: v for k, v in per_seed[-1].items() if k != "curve"}, file=sys.stderr, flush=True)
    values = [r["test_log_likelihood"] for r in per_seed]
    mc = summary["model_config"]
    method = f"{'PCD' if mc['persistent'] else 'CD'}-{mc['cd_k']}"
    sizes = mc["hidden"] if isinstance(mc["hidden"], list) else [mc["hidden"]]
    goal = GOAL[name]
    record = {
        "benchmark": f"{name}_binarized_mnist", "metric": "test_log_likelihood_nats",
        "value": round(statistics.mean(values), 3),
        "sd": round(statistics.stdev(values), 3) if len(values) > 1 else None, "model": name,
        "variant": f"{name} {'-'.join(str(h) for h in sizes)} hidden, {method}, "
                   f"{summary['train_settings']['time_budget_s']:g} s",
        "per_seed": per_seed, "n_test": nll["n"], "likelihood": f"{nll['kind']} ({nll['estimator']})",
        "ais": {"runs": nll.get("ais_runs"), "steps": nll.get("ais_steps")},
        "interval": "test log-likelihood at +-3 standard errors of log Z (AIS)", "paper": PAPER[name],
        "target": f"better than {goal:g} nats" if goal else "reported (no threshold)",
        "meets_target": all(v > goal for v in values) if goal else None,
        "estimates_reliable": not any(r["ais_warning"] for r in per_seed),
        "gibbs_sweeps_per_s": round(statistics.mean(r["gibbs_sweeps_per_s"] for r in per_seed), 1),
        "ais_seconds": round(statistics.mean(r["ais_seconds"] or 0.0 for r in per_seed), 2),
        **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start)}
    record["seed"] = seeds
    if reuse:  # evaluated again: trained by `dgm train NAME --config CONFIG --seed S` at another commit
        record["reused_runs"] = {"runs": [str(r) for r in reuse], "trained_at_commit": args.trained_at or None,
                                 "trained_by": f"dgm train {name} --config {CONFIGS[name]} --data-dir DIR --threads "
                                               f"{threads} --seed S --no-progress --out RUN"}
    record["artifacts"] = [cli_run.keep_grid(run_dir, f"{name}_binarized_mnist", not args.no_record)]
    train = dgm.data.load("binarized-mnist", split="train", data_dir=data_dir, download=False)
    cli_run.finish(record, run_dir, train, summary, f"{name}_binarized_mnist", not args.no_record)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    (select if args.figure == "select" else test)(args, data_dir, threads, load_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
