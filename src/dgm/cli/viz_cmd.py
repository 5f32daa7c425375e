"""``dgm viz RUN_DIR interpolate|traverse|manifold --out FILE.png``: pictures of a latent model."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..errors import ConfigError
from ..models.base import LatentModel
from ..runs import load_run, load_run_data, sample_images
from ..viz.grids import save_grid
from ..viz.latent import interpolate, manifold, traverse
from ..viz.neighbours import neighbour_grid
from .common import add_data_dir, positive_float, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("viz", help="interpolations, traversals, the 2-D manifold, nearest training neighbours",
                       description="interpolate: between encodings of test images (rows = pairs); traverse: "
                       "each latent dim of one test image from -span to span (rows = dims); manifold: the decoded "
                       "grid of a 2-D latent space; neighbours: each sample (first column) beside its nearest "
                       "training images in pixel space, to spot copies.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("kind", choices=("interpolate", "traverse", "manifold", "neighbours"))
    p.add_argument("--out", required=True, help="FILE.png")
    p.add_argument("--rows", type=positive_int, default=8, help="pairs (interpolate) or latent dims (traverse)")
    p.add_argument("--steps", type=positive_int, default=10, help="images per row")
    p.add_argument("--span", type=positive_float, default=3.0, help="traversal range in prior std units")
    p.add_argument("--spherical", action="store_true", help="slerp instead of linear interpolation")
    p.add_argument("--seed", type=int, default=0)
    add_data_dir(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model, ckpt = load_run(args.run_dir)
    if args.kind == "neighbours":
        train = load_run_data(ckpt, "train", args.data_dir)
        samples = sample_images(model, args.rows, seed=args.seed)
        images, dist = neighbour_grid(samples, train.data, k=args.steps - 1)
        save_grid(images, Path(args.out), nrow=args.steps)
        print(f"wrote neighbours grid to {args.out} (nearest L2 distance per sample: "
              f"{', '.join(f'{d:.2f}' for d in dist[:, 0].tolist())})")
        return 0
    if not isinstance(model, LatentModel):
        raise ConfigError(f"{ckpt.config['model']} has no latent space (encode/decode) to draw")
    if args.kind == "manifold":
        images = manifold(model, n=args.steps)
        nrow = args.steps
    else:
        data = load_run_data(ckpt, "test", args.data_dir)
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.randperm(len(data), generator=g)[: 2 * args.rows]
        with torch.no_grad():
            z = model.encode(model.prepare(data.data[idx], g, train=False))
        if args.kind == "interpolate":
            images = interpolate(model, z[: args.rows], z[args.rows : 2 * args.rows], args.steps, args.spherical)
        else:
            dims = list(range(min(args.rows, model.latent_dim)))
            images = traverse(model, z[0], dims, args.span, args.steps)
        nrow = args.steps
    save_grid(images, Path(args.out), nrow=nrow)
    print(f"wrote {args.kind} grid to {args.out}")
    return 0
