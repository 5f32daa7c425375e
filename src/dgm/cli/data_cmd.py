"""``dgm data info|fetch NAME``: inspect a dataset, or download its files."""
from __future__ import annotations

import argparse

import torch

from ..data import datasets, load
from ..data.registry import dataset_folder, ensure_files
from .common import add_data_dir


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="dataset information and downloads",
                       description="info: load every split and print its shape, classes and pixel statistics; "
                       "fetch: download (and verify) the files of a dataset into the data directory.")
    p.add_argument("action", choices=("info", "fetch"))
    p.add_argument("name", help="dataset name (see `dgm list datasets`) or folder:PATH")
    add_data_dir(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        spec = datasets.get(args.name)
        if spec.offline:
            print(f"{args.name} needs no files (bundled or generated)")
            return 0
        for split in spec.splits:
            paths = ensure_files(spec, split, args.data_dir)
            for p in paths.values():
                print(f"{split}: {p}")
        print(f"{args.name} is ready in {dataset_folder(spec, args.data_dir)}")
        return 0
    splits = ("train",) if args.name.startswith("folder:") else datasets.get(args.name).splits
    for split in splits:
        ds = load(args.name, split=split, data_dir=args.data_dir)
        i = ds.info
        line = f"{i.name} [{split}] {i.size} x {tuple(i.shape)} {i.kind}"
        if i.kind != "points":
            held = isinstance(ds.data, torch.Tensor)  # else images made per batch (dSprites): look at a spread
            pixels = ds.data if held else ds.data[torch.linspace(0, len(ds) - 1, 4096).long()]
            x = pixels.float()
            line += f", pixel mean {x.mean():.2f} range {int(pixels.min())}..{int(pixels.max())}"
            line += "" if held else " (of 4,096 spread images)"
        if ds.factors is not None:
            line += ", factors " + ", ".join(f"{n} ({s})" for n, s in zip(ds.factors.names, ds.factors.sizes))
        if ds.labels is not None and i.num_classes:
            counts = torch.bincount(ds.labels, minlength=i.num_classes).tolist()
            line += f", {i.num_classes} classes {counts}"
        print(line)
    return 0
