"""``dgm report RUN_DIR... --out report.html``: one self-contained HTML page of runs (viz/report.py)."""
from __future__ import annotations

import argparse

from ..viz.report import write_report
from .common import ShownDefaultsFormatter, add_data_dir, output_file


def smoothing_weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in [0, 1)") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is outside [0, 1)")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page of one or several runs",
                       description="Write one HTML file (images embedded, no network needed to open it) with each "
                       "run's resolved config, a curve per logged term, the evaluation table with each metric's "
                       "protocol (run `dgm eval` first), the sample grids over training, and pictures drawn from "
                       "the checkpoint: interpolations and traversals, class rows, the sampling trajectory, the "
                       "nearest training neighbours. Several runs (or a folder of runs) add a comparison table "
                       "and shared curves. What a section leaves out is listed with the reason.",
                       formatter_class=ShownDefaultsFormatter)
    p.add_argument("runs", nargs="+", help="run directories, or folders holding runs (e.g. runs/)")
    p.add_argument("--out", required=True, type=output_file, help="FILE.html")
    p.add_argument("--no-pictures", action="store_true",
                   help="skip what needs the checkpoint and data (interpolations, neighbours, ...): fast, offline")
    p.add_argument("--smoothing", type=smoothing_weight, default=0.6,
                   help="exponential smoothing of the training curves, in [0, 1) (0: raw)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pictures drawn from the checkpoint")
    add_data_dir(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = write_report(args.runs, args.out, args.data_dir, pictures=not args.no_pictures,
                       smoothing=args.smoothing, seed=args.seed)
    print(f"wrote the report of {', '.join(args.runs)} to {out}")
    return 0
