"""Benchmarks train and evaluate through the `dgm` command itself: this module builds the command line, runs it
in this process (``dgm.cli.main.main``, exactly what the `dgm` executable calls), and reads back what the run
wrote (its checkpoint, config.yaml, metrics.jsonl, eval/metrics.json). Every record carries the command that
reproduces it. Not a benchmark itself.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts src/ on sys.path when needed)
import torch
import yaml

from dgm.cli.main import main as dgm_main
from dgm.models.base import Batch
from dgm.runs import load_run
from dgm.train import read_checkpoint


def command(argv: list[str]) -> str:
    """The shell command for ``dgm`` + argv."""
    return "dgm " + " ".join(shlex.quote(a) for a in argv)


def dgm(argv: list[str]) -> None:
    """Run ``dgm`` with argv in this process; exit with its code (and the command) when it fails."""
    print(f"$ {command(argv)}", file=sys.stderr, flush=True)
    code = dgm_main(argv)
    if code != 0:
        sys.exit(f"benchmark: `{command(argv)}` exited {code}")


def train_summary(run_dir: Path) -> dict[str, Any]:
    """What a finished run says about its training: steps, training seconds (evaluation excluded), samples/s,
    the resolved precision and train settings, and the validation curve [train_s, step, value]."""
    ckpt = read_checkpoint(run_dir)
    st, cfg = ckpt.train_state, yaml.safe_load((run_dir / "config.yaml").read_text())
    train = cfg["train"]
    steps, train_s = int(st["step"]), float(st.get("train_seconds", 0.0))
    curve, metric = [], None
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        key = next((k for k in r if k.startswith("val/") and isinstance(r[k], (int, float))
                    and k not in ("val/n",)), None)
        if key:
            metric = key[4:]
            curve.append([r["train_s"], r["step"], round(r[key], 4)])
    return {"steps": steps, "train_s": round(train_s, 1),
            "samples_per_s": round(steps * train["batch_size"] / max(train_s, 1e-9), 1),
            "precision": cfg.get("resolved", {}).get("precision", train.get("precision")),
            "train_size": cfg.get("resolved", {}).get("train_size"),
            "validation": cfg.get("resolved", {}).get("validation"),
            "train_settings": train, "model_config": cfg["model_config"],
            "nonfinite_skipped": int(st.get("nonfinite_total", 0)),
            **({"curve": {"columns": ["train_s", "step", f"val_{metric}"], "points": curve}} if curve else {})}


def eval_record(run_dir: Path) -> dict[str, Any]:
    """run_dir/eval/metrics.json, written by `dgm eval RUN`."""
    return json.loads((run_dir / "eval" / "metrics.json").read_text())


def step_flops(run_dir: Path, data, batch_size: int) -> int:
    """FLOPs of one training step (forward and backward of every group the model steps at step 0) of the
    run's model on one batch, in fp32, counted by torch.utils.flop_counter (see common.step_flops)."""
    model, ckpt = load_run(run_dir, ema=False)
    model.train()
    x = model.prepare(data.data[:batch_size], torch.Generator().manual_seed(0), True)
    y = data.labels[:batch_size] if data.labels is not None else None

    def step():
        if model.manual_optimization:  # FLOPs of its loss terms are not separable from the unroll: skip
            raise NotImplementedError
        for group in model.update_schedule(0):
            model.loss(Batch(x, y, 0), group)["loss"].backward()
            model.zero_grad(set_to_none=True)

    return common.step_flops(step)


def hardware(run_dir: Path, data, summary: dict[str, Any]) -> dict[str, Any]:
    """GFLOP/s achieved over the run and the fraction of this machine's matmul limit in its precision."""
    try:
        flops = step_flops(run_dir, data, summary["train_settings"]["batch_size"])
    except NotImplementedError:
        return {"hardware": "not counted (manual optimisation)"}
    except (RuntimeError, AssertionError) as e:  # the FLOP counter cannot follow double backward (gradient
        # penalties), nor its module tracker a parameter expanded under no_grad (a style-based generator's constant)
        return {"hardware": f"not counted ({str(e).splitlines()[0][:80]})"}
    return common.hardware_fields(flops, summary["steps"], summary["train_s"], summary["precision"] or "fp32")


def add_options(p, eval_n: int) -> None:
    """The options every figure benchmark shares (the figure's settings live in its YAML)."""
    p.add_argument("--budget", type=float, default=None, help="override the YAML's time budget (seconds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to dgm train")
    p.add_argument("--eval-n", type=int, default=eval_n, help="test examples evaluated")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a new folder under /tmp)")
    p.add_argument("--no-record", action="store_true", help="smoke test: nothing appended to benchmarks/results")


def train(args, model: str, config: str, data_dir: Path, threads: int, extra: tuple[str, ...] = ()
          ) -> tuple[list[str], Path, dict[str, Any]]:
    """`dgm train MODEL --config CONFIG ...` with the shared options (add_options) and ``extra`` arguments (e.g.
    --autoencoder RUN) -> (train argv, run dir, training summary)."""
    import tempfile

    run_dir = args.out or Path(tempfile.mkdtemp(prefix=f"dgm-bench-{model}-")) / "run"
    train_argv = ["train", model, *extra, "--config", config, "--data-dir", str(data_dir), "--threads",
                  str(threads), "--seed", str(args.seed), "--no-progress", "--out", str(run_dir)]
    train_argv += ["--time-budget", f"{args.budget:g}"] if args.budget else []
    train_argv += [a for s in args.set for a in ("--set", s)]
    dgm(train_argv)
    return train_argv, run_dir, train_summary(run_dir)


def train_or_reuse(args, model: str, config: str, data_dir: Path, threads: int, extra: tuple[str, ...] = ()
                   ) -> tuple[str, Path, dict[str, Any]]:
    """`dgm train MODEL [extra] --config CONFIG ...` (train), or with ``args.run`` that finished run as it is ->
    (the training command, or a note naming the reused run, run dir, training summary)."""
    if getattr(args, "run", None):
        return f"(the run {args.run})", args.run, train_summary(args.run)
    train_argv, run_dir, summary = train(args, model, config, data_dir, threads, extra)
    return command(train_argv), run_dir, summary


def train_and_eval(args, model: str, config: str, eval_options: list[str], data_dir: Path, threads: int,
                   extra: tuple[str, ...] = ()):
    """`dgm train MODEL [extra] --config CONFIG ...` (with ``args.run``: that finished run as it is, see
    train_or_reuse) then `dgm eval RUN ... --json` -> (train argv, or the note naming the reused run, eval argv,
    run dir, training summary, evaluation metrics)."""
    if getattr(args, "run", None):
        train_argv, run_dir, summary = train_or_reuse(args, model, config, data_dir, threads)
    else:
        train_argv, run_dir, summary = train(args, model, config, data_dir, threads, extra)
    eval_argv = ["eval", str(run_dir), *eval_options, "-n", str(args.eval_n), "--data-dir", str(data_dir), "--json"]
    dgm(eval_argv)
    return train_argv, eval_argv, run_dir, summary, eval_record(run_dir)["metrics"]


def keep_grid(run_dir: Path, name: str, record: bool) -> str:
    """Copy the run's final sample grid to benchmarks/results/<name>.png (when recording); its path."""
    import shutil

    src = run_dir / "samples" / "final.png"
    if not record or not src.is_file():
        return str(src)
    dst = common.RESULTS / f"{name}.png"
    shutil.copyfile(src, dst)
    return common.rel(dst)


def run_fields(args, train_argv: list[str] | str, eval_argv: list[str], run_dir: Path, summary: dict[str, Any],
               threads: int, load_start) -> dict[str, Any]:
    """The record fields every figure benchmark shares: the command, the budget, the training summary."""
    trained = train_argv if isinstance(train_argv, str) else command(train_argv)
    return {"command": f"{trained} && {command(eval_argv)}",
            "budget_s": summary["train_settings"]["time_budget_s"], **summary,
            "epochs": round(summary["steps"] * summary["train_settings"]["batch_size"] / summary["train_size"], 2),
            "seed": args.seed, "threads": threads, "load_avg_start": load_start, "run_dir": str(run_dir)}


def finish(record: dict[str, Any], run_dir: Path, train, summary: dict[str, Any], name: str, save: bool) -> None:
    """Add the hardware fields, flag a non-finite value, and emit the record."""
    import math

    record.update(hardware(run_dir, train, summary))
    if record.get("value") is None or not math.isfinite(record["value"]):
        record["error"] = f"non-finite {record['metric']}"
    common.emit(record, name, save=save)
