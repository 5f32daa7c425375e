"""Helpers shared by the benchmark scripts: data directory, threads, machine load, provenance, FLOP counts
against the machine's measured matmul limit, and the one JSON line every benchmark prints last (DESIGN.md
section 5).

Benchmarks are scripts, not part of the package: run them from the repository root with
``PYTHONPATH=src python3 benchmarks/<name>.py``.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

import torch

try:
    import dgm
except ImportError:  # let `python3 benchmarks/x.py` work without PYTHONPATH=src
    sys.path.insert(0, str(REPO / "src"))
    import dgm


def data_dir() -> Path:
    """$DGM_DATA_DIR, else <repo>/../shared/data when it exists; otherwise exit with a clear message."""
    env = os.environ.get("DGM_DATA_DIR")
    if env:
        if not Path(env).expanduser().is_dir():
            sys.exit(f"benchmark: DGM_DATA_DIR={env} is not a directory")
        return Path(env).expanduser()
    shared = REPO.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    sys.exit(f"benchmark: no data directory: set DGM_DATA_DIR to a folder holding mnist/ "
             f"(or create {shared}); benchmarks never download")


def set_threads(n: int = 2) -> int:
    """Fix torch's intra-op threads (the project's reference machine has 2 cores); returns n."""
    torch.set_num_threads(n)
    return n


def load_avg() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (busy machines make timings noisy)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def begin(threads: int = 2) -> tuple[int, list[float], Path]:
    """A figure benchmark's start: fix the threads, note (and warn about) the load, find the data directory ->
    (threads, load average at the start, data directory)."""
    n = set_threads(threads)
    return n, warn_if_busy(n), data_dir()


def warn_if_busy(threads: int) -> list[float]:
    """Load average now; a warning on stderr when other work already occupies the cores."""
    load = load_avg()
    if load and load[0] > 0.5:
        print(f"benchmark: load average {load[0]} on {os.cpu_count()} cores before starting "
              f"({threads} threads wanted): timings will be noisy; rerun on an idle machine",
              file=sys.stderr)
    return load


def git_commit() -> str:
    """HEAD's hash, with '+dirty' when tracked files outside benchmarks/results differ from it; '' outside a
    git checkout.

    Read-only plumbing only (no `git status`, which may rewrite the index)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=10, check=False).stdout.strip()
        if not head:
            return ""
        # benchmarks/results holds what benchmarks write (records, grids): outputs, not the code that ran
        dirty = subprocess.run(["git", "diff-index", "--quiet", "HEAD", "--", ".", ":!benchmarks/results"], cwd=REPO,
                               env=env, capture_output=True, timeout=10, check=False).returncode
        return head[:12] + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def step_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations (FLOPs, an int) of one call of ``fn()``, e.g. one training step with its
    forward and backward passes, as counted by ``torch.utils.flop_counter.FlopCounterMode``: matmuls,
    convolutions and attention, 2 FLOPs per multiply-add; element-wise ops are not counted. ``fn`` really runs
    once (an optimizer step inside it updates the weights)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def machine_limit_gflops(precision: str = "fp32", threads: int | None = None, seconds: float = 3.0) -> float:
    """This machine's practical matmul limit in GFLOP/s (1e9 floating-point operations per second), measured
    now: 2048 x 2048 @ 2048 x 2048 matmuls (2 * 2048**3 FLOPs each) in float32, or bfloat16 when
    ``precision == "bf16"``, repeated for about ``seconds`` after one warm-up call, on ``threads`` intra-op
    threads (default: torch's current setting, which is restored afterwards)."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    n = 2048
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen).to(dtype)
        b = torch.randn(n, n, generator=gen).to(dtype)
        torch.mm(a, b)  # warm-up: allocations, kernel choice
        calls, start = 0, time.perf_counter()
        while True:
            torch.mm(a, b)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
    finally:
        torch.set_num_threads(before)
    return 2 * n**3 * calls / elapsed / 1e9


def hardware_fields(flops_per_step: int, steps: int, train_s: float, precision: str) -> dict[str, Any]:
    """Record fields saying how much of this machine's arithmetic a training run used:
    ``gflop_per_step`` (GFLOP = 1e9 FLOPs in one step, from ``step_flops``), ``achieved_gflops`` (GFLOP/s over
    the run: flops_per_step * steps / train_s / 1e9), ``limit_gflops_<precision>`` (GFLOP/s of
    ``machine_limit_gflops(precision)``, measured now on torch's current threads) and ``fraction_of_limit``
    (achieved / limit, 0..1). ``train_s`` is the training time in seconds the ``steps`` took."""
    achieved = flops_per_step * steps / train_s / 1e9 if train_s > 0 else 0.0
    limit = machine_limit_gflops(precision)
    return {
        "gflop_per_step": round(flops_per_step / 1e9, 4),
        "achieved_gflops": round(achieved, 2),
        f"limit_gflops_{precision}": round(limit, 1),
        "fraction_of_limit": round(achieved / limit, 4) if limit > 0 else None,
    }


def rel(path: str | Path) -> str:
    """A path relative to the repository root when inside it (artifacts are committed by that name)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def provenance(threads: int) -> dict[str, Any]:
    """The fields every record carries besides its figures."""
    return {
        "threads": threads,
        "device": "cpu",
        "torch": torch.__version__,
        "dgm": dgm.__version__,
        "python": platform.python_version(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        # The cores this process may run on: a run pinned with taskset to one core says so (the other core
        # may then have been busy with other work; load_avg tells).
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def emit(record: dict[str, Any], name: str, save: bool = True) -> dict[str, Any]:
    """Append ``record`` as one line to benchmarks/results/<name>.jsonl (when ``save``) and print it as the
    last line on stdout. Provenance fields the record lacks are filled in; ``load_avg`` is the 1-minute
    load at the start when the record has ``load_avg_start``, and ``load_avg_end`` is taken now."""
    threads = record.get("threads", torch.get_num_threads())
    out = dict(record)
    for key, value in provenance(threads).items():
        out.setdefault(key, value)
    start = out.pop("load_avg_start", None)
    end = load_avg()
    if "load_avg" not in out:
        out["load_avg"] = start[0] if start else (end[0] if end else None)
    out["load_avg_start"] = start
    out["load_avg_end"] = end
    out.setdefault("artifacts", [])
    line = json.dumps(out)
    if save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with open(RESULTS / f"{name}.jsonl", "a") as f:
            f.write(line + "\n")
    sys.stderr.flush()
    print(line, flush=True)
    return out


def selection_fields(results: list[dict[str, Any]], keys: tuple[str, ...], own: tuple, score: str,
                     spread_key: str) -> dict[str, Any]:
    """The record fields of a selection on validation: the trial with the lowest ``score`` (its ``keys``),
    whether the YAML's values ``own`` are it, the spread of the YAML's own trials over seeds, every trial and
    the commands that ran them. A trial carrying an ``ais_warning`` (its estimate is unreliable) cannot be chosen."""
    best = min((r for r in results if not r.get("ais_warning")), key=lambda r: r[score], default=None)
    own_scores = [r[score] for r in results if tuple(r[k] for k in keys) == own]
    return {"chosen": best and {k: best[k] for k in keys},
            "yaml_is_best": best is not None and tuple(best[k] for k in keys) == own,
            spread_key: round(max(own_scores) - min(own_scores), 3) if len(own_scores) > 1 else None,
            "trials": results, "command": "; ".join(r["command"] for r in results)}
