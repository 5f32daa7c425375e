"""``dgm list models|datasets``."""
from __future__ import annotations

import argparse

from ..data import datasets
from ..models import models


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list registered models or datasets", description="List registered names.")
    p.add_argument("what", choices=("models", "datasets"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    reg = models if args.what == "models" else datasets
    width = max(len(n) for n in reg.names())
    for name in reg.names():
        print(f"{name:<{width}}  {reg.help(name)}")
    if args.what == "datasets":
        print(f"{'folder:PATH':<{width}}  any folder of images (png, jpg, webp, ...), converted to one size")
    return 0
