"""``dgm viz RUN_DIR interpolate|traverse|manifold|neighbours|latent-scatter|reconstructions --out FILE.png``:
pictures of a latent model (encoder/decoder models, and generators of drawn latents: GANs)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..errors import ConfigError
from ..data.transforms import as_unit
from ..models.base import LatentGenerator, LatentModel, Reconstructs
from ..metrics.latent import latent_means
from ..metrics.reconstruction import reconstructed_images
from ..runs import default_split, load_run, load_run_data, sample_images
from ..viz.grids import save_grid, save_scatter
from ..viz.generator_latent import interpolate_drawn, traverse_codes
from ..viz.latent import interpolate, manifold, traversal_dims, traverse
from ..viz.neighbours import neighbour_grid
from ..viz.style_mixing import noise_grid, style_mix_grid
from .common import ShownDefaultsFormatter, add_data_dir, output_file, positive_float, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("viz", help="interpolations, traversals, the 2-D manifold, nearest training neighbours",
                       description="interpolate: between encodings of test images (rows = pairs; GANs: between "
                       "drawn latents, each row keeping its label and categorical code); traverse: each latent dim "
                       "of one test image from -span to span (rows = dims; InfoGAN: rows = categorical code, "
                       "columns = continuous code --code-dim, or columns = categorical code when it has no "
                       "continuous ones); manifold: the decoded grid of a 2-D latent space; neighbours: each "
                       "sample (first column) beside its nearest training images in pixel space, to spot copies; "
                       "latent-scatter: test codes coloured by class; reconstructions: rows of test images, each "
                       "above its reconstructions (--rows pairs of --steps); style-mix (style-based GANs): row "
                       "sources down the left, column sources along the top, each cell the row source with the "
                       "column source's --styles (coarse, middle or fine resolutions; StyleGAN's figure 3); noise "
                       "(style-based GANs): each row one latent under --steps noise draws, then their per-pixel "
                       "standard deviation.",
                       formatter_class=ShownDefaultsFormatter)
    p.add_argument("run_dir")
    p.add_argument("kind", choices=("interpolate", "traverse", "manifold", "neighbours", "latent-scatter",
                                           "reconstructions", "style-mix", "noise"))
    p.add_argument("--out", required=True, type=output_file, help="FILE.png")
    p.add_argument("--rows", type=positive_int, default=8, help="pairs (interpolate) or latent dims (traverse)")
    p.add_argument("--steps", type=positive_int, default=10, help="images per row")
    p.add_argument("--span", type=positive_float, default=None,
                   help="traversal range: latent dims in prior std units (default 3), InfoGAN's continuous codes "
                   "trained on [-1, 1] (default 2, as in the paper)")
    p.add_argument("--code-dim", type=int, default=0, help="InfoGAN: which continuous code the traversal varies")
    p.add_argument("--truncation", type=positive_float, default=None, help="GANs: truncated z for interpolations; style-based GANs: psi of the truncation in W (also for "
                   "style-mix)")
    p.add_argument("--spherical", action="store_true", help="slerp instead of linear interpolation")
    p.add_argument("--styles", choices=("coarse", "middle", "fine"), default="coarse",
                   help="style-mix: which resolutions' styles the column sources give")
    p.add_argument("--seed", type=int, default=0)
    add_data_dir(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() != ".png":
        raise ConfigError(f"--out {args.out}: viz draws PNG grids; give a .png file name")
    model, ckpt = load_run(args.run_dir)
    if args.kind == "neighbours":
        train = load_run_data(ckpt, "train", args.data_dir)
        samples = sample_images(model, args.rows, seed=args.seed)
        images, dist = neighbour_grid(samples, train.data, k=args.steps - 1, kind=train.info.kind)
        save_grid(images, Path(args.out), nrow=args.steps)
        print(f"wrote neighbours grid to {args.out} (nearest L2 distance per sample: "
              f"{', '.join(f'{d:.2f}' for d in dist[:, 0].tolist())})")
        return 0
    if args.kind == "reconstructions":
        return _reconstructions(model, ckpt, args)
    if args.kind in ("style-mix", "noise") and not getattr(model, "style_based", False):
        raise ConfigError(f"{args.kind} draws a style-based generator's styles or noise; {ckpt.config['model']} has "
                          "none (train one with dgm train stylegan2)")
    if isinstance(model, LatentGenerator) and not isinstance(model, LatentModel):
        return _generator_pictures(model, ckpt, args)
    if not isinstance(model, LatentModel):
        raise ConfigError(f"{ckpt.config['model']} has no latent space (encode/decode) to draw")
    if args.kind == "latent-scatter":
        return _latent_scatter(model, ckpt, args)
    if args.kind == "manifold":
        if model.latent_dim != 2:
            raise ConfigError(f"the manifold grid needs a 2-D latent space; this {ckpt.config['model']} has "
                              f"{model.latent_dim} latents (train with --set model.latent_dim=2, or use traverse)")
        images = manifold(model, n=args.steps)
        nrow = args.steps
    else:
        data = load_run_data(ckpt, default_split(ckpt.config["data"]["name"]), args.data_dir)
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.randperm(len(data), generator=g)[: 2 * args.rows]
        with torch.no_grad():
            z = model.encode(model.prepare(data.data[idx], g, train=False).to(model.device))
        if args.kind == "interpolate":
            images = interpolate(model, z[: args.rows], z[args.rows : 2 * args.rows], args.steps, args.spherical)
        else:
            dims, lines = traversal_dims(model, data, args.rows, args.seed)
            images = traverse(model, z[0], dims, args.span or 3.0, args.steps)
            print("\n".join(lines))
        nrow = args.steps
    save_grid(images, Path(args.out), nrow=nrow)
    print(f"wrote {args.kind} grid to {args.out}")
    return 0


def _reconstructions(model, ckpt, args: argparse.Namespace) -> int:
    """--rows pairs of rows: --steps random test images above their reconstructions."""
    if not isinstance(model, Reconstructs):
        raise ConfigError(f"{ckpt.config['model']} does not reconstruct: reconstructions need a model with an "
                          "encoder and a decoder (an autoencoder)")
    data = load_run_data(ckpt, default_split(ckpt.config["data"]["name"]), args.data_dir)
    if data.info.kind == "points":
        raise ConfigError(f"{ckpt.config['model']} models 2-D points; reconstructions draws image grids")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(args.seed))[: args.rows * args.steps]
    shown = data.subset(idx)
    originals = as_unit(shown.data, data.info.kind)
    recs = reconstructed_images(model, shown, seed=args.seed).to(originals.dtype)
    rows = len(shown) // args.steps  # fewer test images than asked: whole rows only
    pairs = torch.stack([x[: rows * args.steps].unflatten(0, (rows, args.steps)) for x in (originals, recs)], 1)
    save_grid(pairs.flatten(0, 2), Path(args.out), nrow=args.steps)
    print(f"wrote reconstructions grid to {args.out} ({rows} rows of {args.steps} test images, each above its "
          "reconstructions)")
    return 0


@torch.no_grad()
def _latent_scatter(model, ckpt, args: argparse.Namespace) -> int:
    """Codes of up to 5,000 examples of the run's evaluation split, coloured by class; the first two dims."""
    data = load_run_data(ckpt, default_split(ckpt.config["data"]["name"]), args.data_dir)
    g = torch.Generator().manual_seed(args.seed)
    idx = torch.randperm(len(data), generator=g)[:5000]
    codes = latent_means(model, data.subset(idx), seed=args.seed)
    if codes.shape[1] < 2:
        raise ConfigError(f"latent-scatter draws 2-D codes; this {ckpt.config['model']} has {codes.shape[1]}")
    labels = data.labels[idx] if data.labels is not None else None
    save_scatter(codes[:, :2], Path(args.out), labels=labels)
    note = "" if codes.shape[1] == 2 else f" (the first 2 of {codes.shape[1]} dims)"
    print(f"wrote a scatter of {len(codes)} codes{note} to {args.out}")
    if hasattr(model, "prior_share") and codes.shape[1] == model.latent_dim:
        print(f"share of codes inside the prior's 95% highest-density region: {model.prior_share(codes):.3f}")
    return 0


def _generator_pictures(model, ckpt, args: argparse.Namespace) -> int:
    """interpolate / traverse for models that draw their latents (GANs): no test data needed."""
    g = torch.Generator().manual_seed(args.seed)
    if args.kind == "latent-scatter":
        raise ConfigError(f"{ckpt.config['model']} has no encoder: latent-scatter draws the codes of data")
    if args.kind == "manifold":
        raise ConfigError(f"{ckpt.config['model']} has no 2-D latent manifold to draw; try interpolate or traverse")
    if args.kind == "style-mix":
        images, nrow = style_mix_grid(model, args.rows, args.steps, args.styles, args.truncation, g)
    elif args.kind == "noise":
        images, nrow = noise_grid(model, args.rows, args.steps, g)
    elif args.kind == "interpolate":
        options = {"truncation": args.truncation} if args.truncation else {}
        images, nrow = interpolate_drawn(model, args.rows, args.steps, args.spherical, g, **options), args.steps
    else:
        span = args.span or (2.0 if getattr(model, "continuous", 0) else 3.0)
        try:
            images, nrow = traverse_codes(model, args.rows, args.steps, span, args.code_dim, g)
        except ValueError as e:
            raise ConfigError(f"--code-dim {args.code_dim}: {e}") from None
    if images.dim() != 4:
        raise ConfigError(f"{ckpt.config['model']} generates points, not images; use `dgm sample --out FILE.png`")
    save_grid(images, Path(args.out), nrow=nrow)
    print(f"wrote {args.kind} grid to {args.out}")
    return 0
