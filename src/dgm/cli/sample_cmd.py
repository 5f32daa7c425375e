"""``dgm sample RUN_DIR -n N --out FILE.png|FILE.npz``: draw samples from a trained model."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..runs import load_run, sample_images
from ..viz.grids import save_samples, to_uint8
from .common import positive_float, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="sample from a trained run", description="Draw N samples from a trained run; "
                       ".png writes a grid (a scatter plot for 2-D data), .npz writes key 'images' as uint8 "
                       "(N, C, H, W) (or 'points' float32 (N, 2) for 2-D data).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="run directory or checkpoint directory")
    p.add_argument("-n", type=positive_int, default=64, help="number of samples")
    p.add_argument("--out", required=True, help="FILE.png or FILE.npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=positive_float, default=1.0, help="scale of the prior noise")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights even if EMA weights exist")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise ConfigError(f"--out {out}: use a .png or .npz file name")
    model, ckpt = load_run(args.run_dir, ema=not args.no_ema)
    samples = sample_images(model, args.n, seed=args.seed, temperature=args.temperature)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        save_samples(samples, out)
    elif samples.dim() == 2:
        np.savez_compressed(out, points=samples.float().numpy())
    else:
        np.savez_compressed(out, images=to_uint8(samples))
    print(f"wrote {args.n} samples from {ckpt.path} to {out}")
    return 0
