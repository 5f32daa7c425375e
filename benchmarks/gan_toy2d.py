"""Mode coverage of GANs on the 2-D toys of the unrolled-GAN / VEEGAN / PacGAN papers: a ring of 8 Gaussians
(radius 2, std 0.02) and a 5x5 grid of Gaussians (spacing 2, std 0.05), for a fixed training budget per run.

    PYTHONPATH=src python3 benchmarks/gan_toy2d.py                          # 4 models x 2 toys x 120 s
    PYTHONPATH=src python3 benchmarks/gan_toy2d.py --config configs/gan_unrolled_ring8.yaml --threads 1
    PYTHONPATH=src python3 benchmarks/gan_toy2d.py --run runs/unrolled-ring8  # measure a trained run
    PYTHONPATH=src python3 benchmarks/gan_toy2d.py --budget 5 --no-record    # smoke test

Protocol: each model is trained with its preset (networks, objective, penalties, its paper's optimiser) on
the toy's 50,000 training points, batch 256 for every model, for ``--budget`` seconds, through `dgm train`
(or with a figure's YAML: ``--config``, whose settings, budget included, are the figure's); then 10,000 points
are sampled (seed 1234). A sample is *high quality* if it lies within 3 standard deviations of its nearest mode
centre; a mode is *covered* if at least ``--min-share`` (default 0.2%, i.e. 20 of 10,000) of all samples are
high-quality samples nearest to it. Reported per run: modes covered (of 8 / 25), the high-quality fraction,
and the largest / smallest share of high-quality samples a covered mode gets. Scatter plots of 2,500 samples
over the data go to benchmarks/results/gan_toy2d_<model>_<toy>.png. Prints one JSON line last.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import cli_run
import torch
import yaml

import dgm.data
from dgm.runs import load_run
from dgm.viz import save_scatter

MODELS = ("gan", "wgan-gp", "sngan", "unrolled-gan")
# The papers' own 2-D toy settings where they differ from the image presets (``--settings toy-paper``):
# WGAN-GP's gan_toy.py (Gulrajani et al.): lambda 0.1 ("smaller lambda helps for toy tasks"), 3 ReLU layers
# of 512 without normalisation, Adam 1e-4 (0.5, 0.9), batch 256; the unrolled GAN's toy (Metz et al.,
# appendix A and its reference code): 256-d noise, 128-wide MLPs, Adam 1e-4 (beta1 0.5), batch 512. Both
# codes initialise Glorot-style (TensorFlow's dense-layer default), not with DCGAN's N(0, 0.02).
TOY_PAPER = {  # name -> `dgm train` --set values
    "wgan-gp": ["model.gp_weight=0.1", "model.mlp_hidden=[512,512,512]", "model.d_norm=none", "model.init=xavier",
                "train.lr=1e-4", "train.betas=[0.5,0.9]", "train.batch_size=256"],
    "unrolled-gan": ["model.latent_dim=256", "model.mlp_hidden=[128,128]", "model.init=xavier", "train.lr=1e-4",
                     "train.betas=[0.5,0.999]", "train.batch_size=512"],
}
TOYS = {  # name -> (mode centres (K, 2), std of each mode, plot extent)
    "ring8": (2.0 * torch.stack([torch.cos(torch.arange(8) * 2 * math.pi / 8),
                                 torch.sin(torch.arange(8) * 2 * math.pi / 8)], 1), 0.02, 2.6),
    "grid25": (torch.stack([(torch.arange(25) // 5).float() * 2 - 4, (torch.arange(25) % 5).float() * 2 - 4], 1),
               0.05, 5.5),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated registered GAN names")
    p.add_argument("--toys", default=",".join(TOYS), help="comma-separated: ring8, grid25")
    p.add_argument("--config", help="a figure's YAML (configs/gan_*_ring8.yaml ...): its model, toy and budget")
    p.add_argument("--run", action="append", default=[], metavar="RUN_DIR", help="measure trained runs, no training")
    p.add_argument("--budget", type=float, default=None, help="training seconds per (model, toy) (default 120, "
                   "or the YAML's)")
    p.add_argument("--settings", choices=("preset", "toy-paper"), default="preset",
                   help="preset: every model's image preset at batch --batch-size; toy-paper: the papers' own toy "
                        "settings where they have them (WGAN-GP, unrolled GAN), else the preset")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to dgm train for every model, e.g. model.lr_g=1e-3 or train.ema_decay=0.999")
    p.add_argument("--n-samples", type=int, default=10_000)
    p.add_argument("--min-share", type=float, default=0.002, help="share of all samples that covers a mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="smoke test: nothing appended to benchmarks/results")
    return p.parse_args(argv)


def mode_coverage(points: torch.Tensor, centres: torch.Tensor, std: float, min_share: float) -> dict:
    """High-quality fraction and modes covered by samples (N, 2) of a mixture with these centres (K, 2)."""
    dist = torch.cdist(points.double(), centres.double())  # (N, K)
    nearest, mode = dist.min(1)
    hq = nearest < 3 * std
    counts = torch.bincount(mode[hq], minlength=len(centres))
    covered = counts >= min_share * len(points)
    share = counts[covered].double() / max(int(hq.sum()), 1)
    return {"modes_covered": int(covered.sum()), "modes": len(centres),
            "high_quality": round(float(hq.double().mean()), 4),
            "max_mode_share": round(float(share.max()), 4) if covered.any() else None,
            "min_mode_share": round(float(share.min()), 4) if covered.any() else None,
            "finite": bool(torch.isfinite(points).all())}


def sample_points(model, n: int) -> torch.Tensor:
    """n points (n, 2) from a trained model (its EMA weights when kept) in eval mode, seed 1234."""
    with torch.no_grad():
        return model.eval().sample(n, generator=torch.Generator().manual_seed(1234))


def jobs(args) -> list[tuple[str, str, list[str]]]:
    """(model, toy, dgm train argv tail) for each run to train."""
    if args.config:
        cfg = yaml.safe_load(Path(args.config).read_text())
        name = Path(args.config).stem.split("_")[1]
        model = {"unrolled": "unrolled-gan", "wgan": "wgan-gp"}.get(name, name)
        tail = ["--config", args.config] + (["--time-budget", f"{args.budget:g}"] if args.budget else [])
        return [(model, cfg["data"]["name"], tail)]
    out = []
    for toy in [t.strip() for t in args.toys.split(",") if t.strip()]:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            sets = [f"train.batch_size={args.batch_size}"] + (TOY_PAPER.get(name, []) if args.settings == "toy-paper"
                                                              else [])
            tail = ["--data", toy, "--time-budget", f"{args.budget or 120:g}"]
            out.append((name, toy, tail + [a for s in sets for a in ("--set", s)]))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    runs = []  # (model, toy, run dir, command)
    for run in args.run:
        cfg = yaml.safe_load((Path(run) / "config.yaml").read_text())
        runs.append((cfg["model"], cfg["data"]["name"], Path(run), None))
    if not args.run:
        for name, toy, tail in jobs(args):
            if toy not in TOYS:
                sys.exit(f"toy {toy!r}: choose from {list(TOYS)}")
            run_dir = Path(tempfile.mkdtemp(prefix=f"dgm-bench-{name}-{toy}-")) / "run"
            argv = ["train", name, *tail, "--threads", str(threads), "--seed", str(args.seed), "--no-progress",
                    "--out", str(run_dir)] + [a for s in args.set for a in ("--set", s)]
            cli_run.dgm(argv)
            runs.append((name, toy, run_dir, cli_run.command(argv)))
    out_dir = Path(tempfile.mkdtemp(prefix="dgm-bench-gan-toy-")) if args.no_record else common.RESULTS
    results, artifacts = [], []
    for name, toy, run_dir, cmd in runs:
        centres, std, extent = TOYS[toy]
        model, _ = load_run(run_dir)
        pts = sample_points(model, args.n_samples)
        cov = mode_coverage(pts, centres, std, args.min_share)
        summary = cli_run.train_summary(run_dir)
        tag = Path(args.config).stem if args.config else args.settings
        tag += "".join(f"_{s.split('.', 1)[-1]}" for s in args.set) + (f"_seed={args.seed}" if args.seed else "")
        tag = re.sub(r"[^\w.=-]+", "", tag.replace(",", "x"))  # [256,256] -> 256x256: no spaces in names
        data = dgm.data.load(toy, split="train")
        png = save_scatter(pts[:2500], out_dir / f"gan_toy2d_{name}_{tag}_{toy}.png", reference=data.data[:2500],
                           extent=extent)
        artifacts.append(common.rel(png))
        results.append({"model": name, "toy": toy, **cov, "command": cmd, "run_dir": str(run_dir),
                        **{k: summary[k] for k in ("steps", "train_s", "samples_per_s", "nonfinite_skipped",
                                                   "train_settings", "model_config")},
                        **cli_run.hardware(run_dir, data, summary)})
        print(f"  {name} {toy}: {cov['modes_covered']}/{cov['modes']} modes, high quality "
              f"{cov['high_quality']:.3f}, {summary['steps']} steps", file=sys.stderr, flush=True)
    covered = [r["modes_covered"] / r["modes"] for r in results]
    budgets = sorted({r["train_settings"]["time_budget_s"] for r in results})
    record = {
        "benchmark": "gan_toy2d", "metric": "mean_fraction_of_modes_covered",
        "value": round(sum(covered) / len(covered), 4),
        "variant": (Path(args.config).stem if args.config else ",".join(sorted({r["toy"] for r in results}))
                    + f" ({args.settings} settings)") + "".join(f" {s}" for s in args.set)
        + (f" seed={args.seed}" if args.seed else "") + ": "
        + "; ".join(f"{r['model']} {r['modes_covered']}/{r['modes']} hq {r['high_quality']:.2f}" for r in results),
        "command": "; ".join(r["command"] for r in results if r["command"]) or None,
        "settings": args.config or args.settings,
        "full_setting": all(b and b >= 120 for b in budgets) and args.n_samples == 10_000,
        "results": results, "budget_s": budgets[0] if len(budgets) == 1 else budgets,
        "n_samples": args.n_samples, "min_share": args.min_share, "high_quality_radius": "3 std", "seed": args.seed,
        "threads": threads, "load_avg_start": load_start, "artifacts": artifacts,
    }
    common.emit(record, "gan_toy2d", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
