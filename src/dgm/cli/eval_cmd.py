"""``dgm eval RUN_DIR``: test-set likelihood bounds and latent statistics of a trained run."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


from ..errors import ConfigError
from ..metrics import active_units, latent_means, negative_log_likelihood
from ..models.base import HasELBO, HasLogProb, LatentModel
from ..runs import load_run, load_run_data
from .common import add_data_dir, positive_int

METRICS = ("nll", "elbo", "iwae", "au")


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a trained run on its test split",
                       description="Evaluate a run on the test split of its dataset. Metrics: nll (exact, for "
                       "models with log_prob), elbo (test ELBO), iwae (IWAE-k bound on log p(x)), au (active "
                       "units). Results go to RUN_DIR/eval/metrics.json.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--metrics", default="auto", help=f"comma-separated subset of {', '.join(METRICS)}, or auto")
    p.add_argument("--k", type=positive_int, default=1000, help="importance samples for iwae")
    p.add_argument("-n", type=positive_int, help="evaluate only the first N test examples")
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--seed", type=int, default=0, help="seed of the test-set binarisation/dequantisation")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")
    add_data_dir(p)
    p.set_defaults(run=run)


def choose_metrics(text: str, model) -> list[str]:
    if text == "auto":
        chosen = ["nll"] if isinstance(model, HasLogProb) else []
        chosen += ["elbo", "iwae"] if isinstance(model, HasELBO) else []
        chosen += ["au"] if isinstance(model, LatentModel) and isinstance(model, HasELBO) else []
        return chosen
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    for m in chosen:
        if m not in METRICS:
            raise ConfigError(f"unknown metric {m!r}; choose from {', '.join(METRICS)}")
    needs = {"nll": HasLogProb, "elbo": HasELBO, "iwae": HasELBO, "au": LatentModel}
    for m in chosen:
        if not isinstance(model, needs[m]):
            raise ConfigError(f"metric {m} needs a model with {needs[m].__name__}; {type(model).__name__} has none")
    return chosen


def run(args: argparse.Namespace) -> int:
    model, ckpt = load_run(args.run_dir)
    info = ckpt.config["data"]
    data = load_run_data(ckpt, args.split, args.data_dir)
    if args.n:
        data = data.subset(slice(0, args.n))
    record = {"run": str(args.run_dir), "checkpoint": str(ckpt.path), "step": int(ckpt.path.name.split("-")[-1]) if ckpt.path.name.startswith("step-") else None,
              "model": ckpt.config["model"], "dataset": info["name"], "split": args.split, "n": len(data),
              "seed": args.seed, "metrics": {}}
    t0 = time.perf_counter()
    for m in choose_metrics(args.metrics, model):
        if m == "nll":
            record["metrics"]["nll"] = negative_log_likelihood(model, data, 1, args.batch_size, args.seed)
        elif m == "elbo":
            record["metrics"]["elbo"] = negative_log_likelihood(model, data, 1, args.batch_size, args.seed)
        elif m == "iwae":
            bs = max(1, min(args.batch_size, 20))  # k samples per example: keep memory bounded
            record["metrics"][f"iwae_{args.k}"] = negative_log_likelihood(model, data, args.k, bs, args.seed,
                                                                         progress=not args.json)
        elif m == "au":
            count, var = active_units(latent_means(model, data, seed=args.seed))
            record["metrics"]["active_units"] = {"count": count, "of": int(var.numel()), "threshold": 0.01}
    record["eval_s"] = round(time.perf_counter() - t0, 2)
    out = Path(args.run_dir) / "eval" / "metrics.json"
    if Path(args.run_dir).is_dir() and (Path(args.run_dir) / "checkpoints").is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2))
    if args.json:
        print(json.dumps(record))
    else:
        print(format_table(record))
    return 0


def format_table(record: dict) -> str:
    lines = [f"{record['model']} on {record['dataset']} ({record['split']}, n={record['n']})",
             f"{'metric':<16}{'value':>12}  note"]
    for name, m in record["metrics"].items():
        if "nll_nats" in m:
            lines.append(f"{name + ' nll':<16}{m['nll_nats']:>12.3f}  nats ({m['bits_per_dim']:.4f} bits/dim, "
                         f"{m['estimator']}, input {m['input_transform']})")
        elif name == "active_units":
            lines.append(f"{'active units':<16}{m['count']:>12d}  of {m['of']} (Cov > {m['threshold']})")
    lines.append(f"took {record['eval_s']} s")
    return "\n".join(lines)


