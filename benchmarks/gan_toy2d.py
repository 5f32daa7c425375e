"""Mode coverage of GANs on the 2-D toys of the unrolled-GAN / VEEGAN / PacGAN papers: a ring of 8 Gaussians
(radius 2, std 0.02) and a 5x5 grid of Gaussians (spacing 2, std 0.05), for a fixed training budget per run.

    PYTHONPATH=src python3 benchmarks/gan_toy2d.py                          # 4 models x 2 toys x 120 s
    PYTHONPATH=src python3 benchmarks/gan_toy2d.py --budget-s 5 --no-record  # smoke test

Protocol: each model is trained with its preset (networks, objective, penalties, its paper's optimiser) on
the toy's 50,000 training points, batch 256 for every model, for ``--budget-s`` seconds; then 10,000 points
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
import gan_common
import torch

import dgm.data
from dgm.viz import save_scatter

MODELS = ("gan", "wgan-gp", "sngan", "unrolled-gan")
# The papers' own 2-D toy settings where they differ from the image presets (``--settings toy-paper``):
# WGAN-GP's gan_toy.py (Gulrajani et al.): lambda 0.1 ("smaller lambda helps for toy tasks"), 3 ReLU layers
# of 512 without normalisation, Adam 1e-4 (0.5, 0.9), batch 256; the unrolled GAN's toy (Metz et al.,
# appendix A and its reference code): 256-d noise, 128-wide MLPs, Adam 1e-4 (beta1 0.5), batch 512. Both
# codes initialise Glorot-style (TensorFlow's dense-layer default), not with DCGAN's N(0, 0.02).
TOY_PAPER = {  # name -> (model config values, training settings)
    "wgan-gp": ({"gp_weight": 0.1, "mlp_hidden": (512, 512, 512), "d_norm": "none", "init": "xavier"},
                {"lr": 1e-4, "betas": (0.5, 0.9), "batch_size": 256}),
    "unrolled-gan": ({"latent_dim": 256, "mlp_hidden": (128, 128), "init": "xavier"},
                     {"lr": 1e-4, "betas": (0.5, 0.999), "batch_size": 512}),
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
    p.add_argument("--budget-s", type=float, default=120.0, help="training seconds per (model, toy)")
    p.add_argument("--max-steps", type=int, default=None, help="also stop after this many steps")
    p.add_argument("--settings", choices=("preset", "toy-paper"), default="preset",
                   help="preset: every model's image preset at batch --batch-size; toy-paper: the papers' own toy "
                        "settings where they have them (WGAN-GP, unrolled GAN), else the preset")
    p.add_argument("--batch-size", type=int, default=256)
    gan_common.add_training_options(p)  # --set applies to every model of the run
    p.add_argument("--curve-every-s", type=float, default=None,
                   help="learning curve: modes and high-quality share of 2,000 samples every this many training "
                        "seconds (off the clock; default: off)")
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


def sample_points(trainer, n: int) -> torch.Tensor:
    """n points (n, 2) from the trainer's sampling model (EMA when kept) in eval mode, seed 1234; the model's
    train/eval mode is restored, so this can run mid-training."""
    model = trainer.sampling_model
    was_training = model.training
    with torch.no_grad():
        pts = model.eval().sample(n, generator=torch.Generator().manual_seed(1234))
    model.train(was_training)
    return pts


def curve_point(trainer, centres: torch.Tensor, std: float, min_share: float) -> dict:
    """A learning-curve point: modes covered and high-quality share of 2,000 samples of the sampling model."""
    cov = mode_coverage(sample_points(trainer, 2000), centres, std, min_share)
    return {"modes": cov["modes_covered"], "hq": cov["high_quality"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    models = [s.strip() for s in args.models.split(",") if s.strip()]
    toys = [s.strip() for s in args.toys.split(",") if s.strip()]
    bad = [t for t in toys if t not in TOYS]
    if bad:
        sys.exit(f"--toys: unknown {bad}; choose from {list(TOYS)}")
    overrides = gan_common.model_values(args.set)
    extras = {**overrides, **({"ema": args.ema_decay} if args.ema_decay else {}),
              **({"lrdecay": args.lr_decay_from} if args.lr_decay_from is not None else {}),
              **({"seed": args.seed} if args.seed else {})}  # runs differing in seed keep their own plots
    out_dir = Path(tempfile.mkdtemp(prefix="dgm-bench-gan-toy-")) if args.no_record else common.RESULTS
    results, artifacts = [], []
    for toy in toys:
        data = dgm.data.load(toy, split="train")
        centres, std, extent = TOYS[toy]
        for name in models:
            print(f"training {name} on {toy} for {args.budget_s:g} s", file=sys.stderr, flush=True)
            values, train = TOY_PAPER.get(name, ({}, {})) if args.settings == "toy-paper" else ({}, {})
            paper = bool(values or train)
            values = {**values, **overrides}
            train = {"batch_size": args.batch_size, **train}
            if args.ema_decay:
                train["ema_decay"] = args.ema_decay
            curve = (args.curve_every_s, lambda tr, c=centres, s=std: curve_point(tr, c, s, args.min_share)) \
                if args.curve_every_s else None
            trainer, summary = gan_common.train_for(name, data, args.budget_s, max_steps=args.max_steps,
                                                    seed=args.seed, model_values=values, train_overrides=train,
                                                    curve=curve, lr_decay_from=args.lr_decay_from)
            pts = sample_points(trainer, args.n_samples)
            cov = mode_coverage(pts, centres, std, args.min_share)
            suffix = ("_toy-paper" if paper else "") + "".join(f"_{k}={v}" for k, v in extras.items())
            suffix = re.sub(r"[^\w.=-]+", "", suffix.replace(", ", "x"))  # [256, 256] -> 256x256: no spaces in names
            png = save_scatter(pts[:2500], out_dir / f"gan_toy2d_{name}{suffix}_{toy}.png", reference=data.data[:2500],
                               extent=extent)
            artifacts.append(common.rel(png))
            results.append({"model": name, "toy": toy, **cov, **summary,
                            **({"toy_paper_settings": {**values, **train}} if paper else {}),
                            **({"overrides": overrides} if overrides else {})})
            print(f"  {name} {toy}: {cov['modes_covered']}/{cov['modes']} modes, high quality "
                  f"{cov['high_quality']:.3f}, {summary['steps']} steps", file=sys.stderr, flush=True)
    covered = [r["modes_covered"] / r["modes"] for r in results]
    record = {
        "benchmark": "gan_toy2d", "metric": "mean_fraction_of_modes_covered",
        "value": round(sum(covered) / len(covered), 4),
        "variant": ",".join(toys) + (" (toy-paper settings)" if args.settings == "toy-paper" else "")
        + "".join(f" {k}={v}" for k, v in extras.items()) + ": "
        + "; ".join(f"{r['model']} {r['modes_covered']}/{r['modes']} hq {r['high_quality']:.2f}" for r in results),
        "models": models, "settings": args.settings,
        "full_setting": args.budget_s >= 120 and args.n_samples == 10_000 and args.max_steps is None,
        "results": [{k: v for k, v in r.items() if k != "last"} for r in results],
        "ema_decay": args.ema_decay, "lr_decay_from": args.lr_decay_from,
        "budget_s": args.budget_s, "batch_size": args.batch_size, "n_samples": args.n_samples,
        "min_share": args.min_share, "high_quality_radius": "3 std", "seed": args.seed,
        "threads": threads, "load_avg_start": load_start, "artifacts": artifacts,
    }
    common.emit(record, "gan_toy2d", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
