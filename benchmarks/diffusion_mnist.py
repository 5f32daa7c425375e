"""DDPM on MNIST trained for 30 minutes through `dgm`, scored by the bundled classifier for each sampler: FID,
Inception Score, the digit histogram and the sampling time.

The figure (the issue's): with DDIM-50 and 10,000 samples, IS >= 9.0 and FID below the project's DCGAN
(15.2 / 20.4 / 26.2 with its three seeds: below the best, 15.2). Goal: DPM-Solver++ with 20 steps within 10%
of DDIM-50's FID. Everything the run needs is in configs/ddpm_mnist.yaml; this script runs

    dgm train ddpm --config configs/ddpm_mnist.yaml --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics fid,is,classes -n N --seed 1234 --sampler S --steps K --json     # each sampler
    dgm sample RUN -n 64 --seed 1234 --out GRID.png --trajectory TRAJECTORY.png

    PYTHONPATH=src python3 benchmarks/diffusion_mnist.py                         # DDIM-50 on 10k samples
    PYTHONPATH=src python3 benchmarks/diffusion_mnist.py --samplers ddim:50,ddim:20,dpm-solver++:10,dpm-solver++:20
    PYTHONPATH=src python3 benchmarks/diffusion_mnist.py --run RUN --eval-n 1000 --samplers ddim:50,ddpm:1000  # a run
    PYTHONPATH=src python3 benchmarks/diffusion_mnist.py --budget 20 --eval-n 50 --no-record   # smoke test

Each sampler is scored on the same number of samples (FID is biased by n: compare rows of one n only). One
JSON record; its value is the first sampler's Inception Score.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import cli_run

import dgm.data

CONFIG = "configs/ddpm_mnist.yaml"
IS_TARGET, DCGAN_FID = 9.0, 15.2  # the best of the dcgan preset's three seeds (benchmarks/results/gan_mnist.jsonl)
FULL = {"budget": 1800.0, "eval_n": 10000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samplers", default="ddim:50", help="comma-separated SAMPLER:STEPS, each scored")
    p.add_argument("--run", type=Path, help="score this finished run (e.g. another sampler table) instead of training")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    samplers = [(s.split(":")[0], int(s.split(":")[1])) for s in args.samplers.split(",") if s.strip()]
    threads, load_start, data_dir = common.begin(args.threads)
    train_command, run_dir, summary = cli_run.train_or_reuse(args, "ddpm", CONFIG, data_dir, threads)
    rows, commands = [], []
    for sampler, steps in samplers:
        eval_argv = ["eval", str(run_dir), "--metrics", "fid,is,classes", "-n", str(args.eval_n), "--seed", "1234",
                     "--sampler", sampler, "--steps", str(steps), "--data-dir", str(data_dir), "--json"]
        cli_run.dgm(eval_argv)
        ev = cli_run.eval_record(run_dir)
        q = ev["metrics"]["quality"]
        rows.append({"sampler": sampler, "steps": steps, "n": args.eval_n, "fid": round(q["fid"], 3),
                     "is": round(q["is"]["is_mean"], 4), "classes": q["classes"], "sample_s": ev["sample_s"],
                     "samples": q["protocol"]["samples"]})
        commands.append(cli_run.command(eval_argv))
        print(rows[-1], file=sys.stderr, flush=True)
    out = run_dir if args.no_record else common.RESULTS
    grid, trajectory = out / "diffusion_mnist_ddpm.png", out / "diffusion_mnist_ddpm_trajectory.png"
    cli_run.dgm(["sample", str(run_dir), "-n", "64", "--seed", "1234", "--out", str(grid), "--trajectory",
                 str(trajectory)])
    head = rows[0]
    budget = summary["train_settings"]["time_budget_s"]
    full = args.eval_n >= FULL["eval_n"] and budget <= FULL["budget"] and not args.set
    met = head["is"] >= IS_TARGET and head["fid"] < DCGAN_FID and (head["sampler"], head["steps"]) == ("ddim", 50)
    by_name = {(r["sampler"], r["steps"]): r for r in rows}
    record = {
        "benchmark": "diffusion_mnist", "metric": "inception_score", "value": head["is"], "model": "ddpm",
        "variant": f"ddpm ({CONFIG}), {head['samples']}, {args.eval_n} samples",
        "fid": head["fid"], "target": {"is": IS_TARGET, "fid_below": DCGAN_FID},
        "meets_target": met if full else None, "full_setting": full, "samplers": rows,
        **({"dpm_solver_20_fid_over_ddim_50": round(by_name[("dpm-solver++", 20)]["fid"]
                                                    / by_name[("ddim", 50)]["fid"], 3)}
           if ("dpm-solver++", 20) in by_name and ("ddim", 50) in by_name else {}),
        **cli_run.run_fields(args, [], [], run_dir, summary, threads, load_start),
        "command": " && ".join([train_command, *commands]),
        "artifacts": [common.rel(grid), common.rel(trajectory)],
    }
    train = dgm.data.load("mnist", split="train", data_dir=data_dir, download=False)
    cli_run.finish(record, run_dir, train, summary, "diffusion_mnist", not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
