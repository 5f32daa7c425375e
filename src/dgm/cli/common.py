"""Argument helpers shared by subcommands."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from ..errors import ConfigError


class ShownDefaultsFormatter(argparse.HelpFormatter):
    """Help that shows a flag's default where it has a real one (not None, False or empty) and its help text
    does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if d is None or d is False or d == [] or d == argparse.SUPPRESS or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".lstrip()


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {v}")
    return v


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="where dataset files live (<DIR>/<dataset>/<files>); default $DGM_DATA_DIR or ~/.cache/dgm/data")


def output_file(text: str) -> Path:
    """argparse type for ``--out FILE``: a file name whose folder is, or can become, a writable directory."""
    p = Path(text)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{parent} is a file, so {text} cannot be written; choose another path")
    if not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"{parent} is not writable; choose another path for {text}")
    return p


def add_device(p: argparse.ArgumentParser, default: str | None = "auto") -> None:
    p.add_argument("--device", default=default, metavar="auto|cpu|cuda[:N]",
                   help="where the model runs: auto (a GPU when torch sees one, else the CPU), cpu, cuda, cuda:N")


def split_sections(assignments: dict, sections: tuple[str, ...]) -> dict[str, dict]:
    """{"model.latent_dim": 3, "train.lr": 0.1} -> {"model": {"latent_dim": 3}, "train": {"lr": 0.1}}."""
    out: dict[str, dict] = {s: {} for s in sections}
    for key, value in assignments.items():
        head, _, rest = key.partition(".")
        if head not in sections or not rest:
            raise ConfigError(f"--set key {key!r} should start with one of {', '.join(s + '.' for s in sections)} "
                              f"(e.g. model.latent_dim=32, train.lr=3e-4)")
        out[head][rest] = value
    return out


def add_sample_options(p: argparse.ArgumentParser) -> None:
    """The model-specific sampling options `dgm sample` and `dgm eval` share (each passed only when given, so a
    model without the option says so instead of ignoring it)."""
    p.add_argument("--temperature", type=positive_float, help="scale of the prior noise (latent models, flows, GANs; "
                   "default 1)")
    p.add_argument("--truncation", type=positive_float, help="truncation trick (GANs): the threshold of z, or for "
                   "style-based GANs (stylegan2) psi of the truncation in W (1: none, 0.7: typical)")
    p.add_argument("--mean", action=argparse.BooleanOptionalAction, default=None,
                   help="VAEs / autoencoders: show the decoder's mean (default, as their papers do) or, with "
                        "--no-mean, a draw from the decoder's likelihood; bernoulli-mixture: --mean shows the "
                        "components' pixel probabilities instead of binary draws; rbm: the last sweep's p(v | h) (default) or, "
                        "with --no-mean, its binary draw")
    p.add_argument("--sampler", choices=("ddpm", "ddim", "dpm-solver++"), help="diffusion models: the sampler "
                   "(default: the model's, DDIM)")
    p.add_argument("--steps", type=positive_int, help="diffusion models: sampling steps (respaced; default 50, "
                   "ddpm all of them)")
    p.add_argument("--eta", type=float, help="diffusion models, DDIM: 0 deterministic (default), 1 ancestral")
    p.add_argument("--guidance", type=float, help="conditional diffusion models: classifier-free guidance scale "
                   "(0 unconditional, 1 conditional (default), > 1 guided)")
    p.add_argument("--classifier", metavar="DIR", help="diffusion models: classifier guidance by the noise-aware "
                   "classifier in DIR (`dgm train-classifier RUN --out DIR`)")
    p.add_argument("--classifier-scale", type=float, help="diffusion models: the classifier guidance scale "
                   "(default 1; 0 unguided)")
    p.add_argument("--gibbs-steps", type=positive_int, help="RBMs: block-Gibbs sweeps from uniform noise (default "
                   "1000)")


SAMPLE_OPTIONS = ("temperature", "truncation", "mean", "sampler", "steps", "eta", "guidance", "classifier_scale",
                  "gibbs_steps")


def sample_options(args: argparse.Namespace, model=None) -> dict:
    """The sampling options given on the command line (see ``add_sample_options``), by ``model.sample``'s names;
    ``--classifier DIR`` becomes the loaded classifier, checked against ``model``."""
    options = {k: getattr(args, k) for k in SAMPLE_OPTIONS if getattr(args, k, None) is not None}
    if getattr(args, "classifier", None):
        from ..models.base import StepwiseSampler
        from ..runs import load_classifier

        if not isinstance(model, StepwiseSampler):
            raise ConfigError(f"--classifier: classifier guidance is for diffusion models, not "
                              f"{type(model).__name__}")
        options["classifier"] = load_classifier(args.classifier, model, model.device)
    elif "classifier_scale" in options:
        raise ConfigError("--classifier-scale needs --classifier DIR (the noise-aware classifier)")
    return options


def requested_labels(text: str | None, n: int, model, options: dict):
    """``--labels`` for ``model`` sampled with ``options``: (n,) int64 over the model's own classes (a
    conditional model) or its guiding classifier's, or None (see ``parse_labels``)."""
    classes = getattr(model, "num_classes", 0) or getattr(options.get("classifier"), "num_labels", 0)
    return parse_labels(text, n, classes)


def parse_labels(text: str | None, n: int, num_classes: int) -> torch.Tensor | None:
    """--labels '3' / '0,1,2' / 'all' -> (n,) int64 labels cycled to length n, or None."""
    if text is None:
        return None
    if num_classes <= 0:
        raise ConfigError("--labels needs a class-conditional model (cgan, acgan, biggan-small, ddpm-cfg, a PixelCNN "
                          "with model.class_conditional=true) or classifier guidance (--classifier); this one "
                          "ignores labels")
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
