"""``dgm sample RUN_DIR -n N --out FILE.png|FILE.npz``: draw samples from a trained model."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..runs import load_run, load_run_data, sample_images
from ..viz.grids import save_samples, to_uint8
from .common import ShownDefaultsFormatter, add_device, output_file, positive_float, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="sample from a trained run", description="Draw N samples from a trained run; "
                       ".png writes a grid (a scatter plot for 2-D data), .npz writes key 'images' as uint8 "
                       "(N, C, H, W) (or 'points' float32 (N, 2) for 2-D data).",
                       formatter_class=ShownDefaultsFormatter)
    p.add_argument("run_dir", help="run directory or checkpoint directory")
    p.add_argument("-n", type=positive_int, default=64, help="number of samples")
    p.add_argument("--out", required=True, type=output_file, help="FILE.png or FILE.npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=positive_float, help="scale of the prior noise (latent models, flows, GANs; "
                   "default 1)")
    p.add_argument("--truncation", type=positive_float, help="truncation trick threshold (GANs)")
    p.add_argument("--mean", action=argparse.BooleanOptionalAction, default=None,
                   help="VAEs / autoencoders: show the decoder's mean (default, as their papers do) or, with "
                        "--no-mean, a draw from the decoder's likelihood")
    p.add_argument("--sampler", choices=("ddpm", "ddim", "dpm-solver++"), help="diffusion models: the sampler "
                   "(default: the model's, DDIM)")
    p.add_argument("--steps", type=positive_int, help="diffusion models: sampling steps (respaced; default 50, "
                   "ddpm all of them)")
    p.add_argument("--eta", type=float, help="diffusion models, DDIM: 0 deterministic (default), 1 ancestral")
    p.add_argument("--guidance", type=float, help="conditional diffusion models: classifier-free guidance scale "
                   "(0 unconditional, 1 conditional (default), > 1 guided); labels from --labels or drawn")
    p.add_argument("--labels", help="class labels for conditional models: comma list cycled over the samples "
                   "(e.g. 3 or 0,1,2), or 'all' to cycle through every class")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights even if EMA weights exist")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise ConfigError(f"--out {out}: use a .png or .npz file name")
    model, ckpt = load_run(args.run_dir, ema=not args.no_ema, device=args.device)
    # only the options given: a model that has no such option says so (exit 2) instead of ignoring it
    options = {k: v for k, v in (("temperature", args.temperature), ("truncation", args.truncation),
                                 ("mean", args.mean), ("sampler", args.sampler), ("steps", args.steps),
                                 ("eta", args.eta), ("guidance", args.guidance)) if v is not None}
    if out.suffix.lower() == ".png" and args.n > MAX_GRID:
        raise ConfigError(f"-n {args.n}: a grid of more than {MAX_GRID} images is too large a PNG to open; "
                          "write them with --out FILE.npz, or lower -n")
    # the model's own conditioning, not the dataset's labels: an unconditional model would ignore them
    labels = parse_labels(args.labels, args.n, getattr(model, "num_classes", 0) or 0)
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
    return 0


MAX_GRID = 10_000  # images in one PNG grid (100 x 100 tiles; 100k MNIST tiles made a PNG Pillow refuses)


def parse_labels(text: str | None, n: int, num_classes: int) -> torch.Tensor | None:
    """--labels '3' / '0,1,2' / 'all' -> (n,) int64 labels cycled to length n, or None."""
    if text is None:
        return None
    if num_classes <= 0:
        raise ConfigError("--labels needs a class-conditional model (cgan, acgan, biggan-small, a PixelCNN with "
                          "model.class_conditional=true); this one ignores labels")
    if text == "all":
        values = list(range(num_classes))
    else:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"--labels {text!r}: use integers like 3 or 0,1,2, or 'all'") from None
    bad = [v for v in values if not 0 <= v < num_classes]
    if not values or bad:
        raise ConfigError(f"--labels {text!r}: classes must be in 0..{num_classes - 1}")
    return torch.tensor(values, dtype=torch.long).repeat(-(-n // len(values)))[:n]
