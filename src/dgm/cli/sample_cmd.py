"""``dgm sample RUN_DIR -n N --out FILE.png|FILE.npz``: draw samples from a trained model."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..runs import load_run, load_run_data, sample_images
from ..viz.grids import save_grid, save_samples, to_uint8
from ..models.base import ShowsTrajectory
from .common import (ShownDefaultsFormatter, add_device, add_sample_options, output_file, positive_int,
                     requested_labels, sample_options)


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="sample from a trained run", description="Draw N samples from a trained run; "
                       ".png writes a grid (a scatter plot for 2-D data), .npz writes key 'images' as uint8 "
                       "(N, C, H, W) (or 'points' float32 (N, 2) for 2-D data).",
                       formatter_class=ShownDefaultsFormatter)
    p.add_argument("run_dir", help="run directory or checkpoint directory")
    p.add_argument("-n", type=positive_int, default=64, help="number of samples")
    p.add_argument("--out", required=True, type=output_file, help="FILE.png or FILE.npz")
    p.add_argument("--seed", type=int, default=0)
    add_sample_options(p)
    p.add_argument("--labels", help="class labels for conditional models: comma list cycled over the samples "
                   "(e.g. 3 or 0,1,2), or 'all' to cycle through every class")
    p.add_argument("--trajectory", type=output_file, metavar="FILE.png", help="diffusion models: also write a "
                   "grid of x_t along the sampling run (a row per sample, of the first 8; columns from noise to "
                   "the sample)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights even if EMA weights exist")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise ConfigError(f"--out {out}: use a .png or .npz file name")
    model, ckpt = load_run(args.run_dir, ema=not args.no_ema, device=args.device)
    if args.trajectory and not isinstance(model, ShowsTrajectory):
        raise ConfigError(f"--trajectory: {type(model).__name__} does not sample through steps; it is for "
                          "diffusion models and RBMs")
    if args.trajectory and Path(args.trajectory).suffix.lower() != ".png":
        raise ConfigError(f"--trajectory {args.trajectory}: use a .png file name")
    # only the options given: a model that has no such option says so (exit 2) instead of ignoring it
    options = sample_options(args, model)
    if out.suffix.lower() == ".png" and args.n > MAX_GRID:
        raise ConfigError(f"-n {args.n}: a grid of more than {MAX_GRID} images is too large a PNG to open; "
                          "write them with --out FILE.npz, or lower -n")
    # the model's own conditioning, not the dataset's labels: an unconditional model would ignore them
    labels = requested_labels(args.labels, args.n, model, options)
    samples = sample_images(model, args.n, seed=args.seed, labels=labels, **options)
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {"labels": labels.numpy()} if labels is not None else {}
    if out.suffix.lower() == ".png":
        reference = None
        if samples.dim() == 2:  # 2-D points: scatter over the target density
            reference = load_run_data(ckpt, "train").data[:5000]
        save_samples(samples, out, reference=reference)
    elif samples.dim() == 2:
        np.savez_compressed(out, points=samples.float().numpy(), **extra)
    else:
        np.savez_compressed(out, images=to_uint8(samples), **extra)
    print(f"wrote {args.n} samples from {ckpt.path} to {out}")
    if args.trajectory:
        write_trajectory(model, Path(args.trajectory), args.seed, labels, options, min(args.n, TRAJECTORY_ROWS))
    return 0


TRAJECTORY_ROWS, TRAJECTORY_FRAMES = 8, 8


def write_trajectory(model, path: Path, seed: int, labels: torch.Tensor | None, options: dict, rows: int) -> None:
    """A grid of x_t along one sampling run of ``rows`` samples (a draw of their own from the same seed and
    labels): a row per sample, columns from pure noise to the sample."""
    frames, times = model.trajectory(rows, TRAJECTORY_FRAMES, generator=torch.Generator().manual_seed(seed),
                                     labels=None if labels is None else labels[:rows], **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_grid(frames.transpose(0, 1).reshape(-1, *frames.shape[2:]), path, nrow=len(times))
    print(f"wrote the trajectory (t = {', '.join(map(str, times))}) of {rows} samples to {path}")


MAX_GRID = 10_000  # images in one PNG grid (100 x 100 tiles; 100k MNIST tiles made a PNG Pillow refuses)
