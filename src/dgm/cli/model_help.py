"""``dgm train MODEL --help``: the help of ``dgm train`` with that model's real defaults and settings."""
from __future__ import annotations

import argparse
from typing import Any

from ..config import format_assignment_value, from_dict, leaves, to_dict
from ..models.registry import build_config, models
from ..train import TrainConfig
from .common import ShownDefaultsFormatter


class DefaultsFormatter(ShownDefaultsFormatter, argparse.RawDescriptionHelpFormatter):
    """``dgm train``'s help: real defaults only, and the epilog's listing kept as written."""


# flag dest -> the TrainConfig field it sets (their defaults come from the model's preset)
FLAG_FIELDS = {"steps": "steps", "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "seed": "seed",
               "time_budget": "time_budget_s", "device": "device"}


class ModelHelp(argparse.Action):
    """``dgm train MODEL --help``: the help with MODEL's real defaults (its preset's training settings) and a
    list of its model and training settings for --set; plain help without a (known) MODEL."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        name = getattr(namespace, "model", None)
        if name in models:
            describe_model_defaults(parser, name)
        parser.print_help()
        parser.exit()


def describe_model_defaults(parser: argparse.ArgumentParser, name: str) -> None:
    """Put model ``name``'s defaults into ``parser``'s help: flag defaults and an epilog of every setting."""
    import textwrap

    entry = models.get(name)
    train_cfg = to_dict(from_dict(TrainConfig, entry.train))
    for action in parser._actions:
        if action.dest in FLAG_FIELDS:
            action.default = train_cfg[FLAG_FIELDS[action.dest]]
    parser.description = f"Train {name} ({models.help(name)}) on a dataset; defaults below are {name}'s."

    def listing(values: dict[str, Any]) -> str:
        words = [f"{k}={format_assignment_value(v)}" for k, v in leaves(values).items()]  # a.b=v for sections
        return textwrap.fill("  ".join(words), width=100, initial_indent="  ", subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False)

    parser.epilog = (f"{name} model settings (--set model.KEY=VALUE):\n"
                     f"{listing(to_dict(build_config(name)))}\n\n"
                     f"{name} training settings (--set train.KEY=VALUE):\n{listing(train_cfg)}")
