"""``dgm train MODEL``: train a registered model on a dataset, or resume a run exactly."""
from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import Any

import torch

from ..config import (coerce, from_dict, leaves, load_yaml, merge_values, nested, parse_assignment, plain_value, to_dict,
                      value_at)
from ..errors import ConfigError
from ..models.registry import build_config, models
from ..runs import (check_config_unedited, create_model, load_data, load_validation, new_run_dir,
                    set_aside_later_checkpoints, write_run_config)
from ..train import TrainConfig, Trainer, read_checkpoint, seed_everything
from ..train.checkpoint import check_run_checkpoint, clean_stale, committed
from ..train.distributed import World
from ..train.run_lock import RunLock
from ..train.schedule import parse_duration
from .common import add_data_dir, add_device, positive_float, positive_int, split_sections
from .model_help import FLAG_FIELDS, DefaultsFormatter, ModelHelp

log = logging.getLogger("dgm")
DEFAULT_DATA = "mnist-10k"


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model", description="Train MODEL (see `dgm list models`) on a dataset.",
                       formatter_class=DefaultsFormatter, add_help=False)
    p.add_argument("-h", "--help", action=ModelHelp, help="show this help (after MODEL: with that model's defaults "
                   "and settings) and exit")
    p.add_argument("model", help="registered model name, e.g. vae, iwae, beta-vae, ae")
    p.add_argument("--data", help=f"dataset name or folder:PATH (default {DEFAULT_DATA}, bundled and offline)")
    p.add_argument("--autoencoder", metavar="RUN_DIR", help="code-prior: the vqvae / vqvae2 run (or checkpoint) "
                   "whose codes of its training images the prior learns (extracted once, cached in RUN_DIR/codes/)")
    add_data_dir(p)
    p.add_argument("--config", metavar="FILE.yaml", help="YAML with sections model:, train:, data:")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="image folders: skip unreadable files (counted, recorded in config.yaml) instead of failing "
                        "(data.skip_bad)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. model.latent_dim=20 or train.grad_clip=1 (repeatable)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, help="optimisation steps in total")
    length.add_argument("--epochs", type=positive_int, help="passes over the training set")
    p.add_argument("--time-budget", type=duration, metavar="DURATION",
                   help="stop after this much training time (evaluation excluded), e.g. 900, 15m or 1h30m; "
                   "without --steps/--epochs the budget alone ends the run, and time-clocked lr schedules run on it")
    p.add_argument("--batch-size", type=positive_int, help="examples per optimisation step")
    p.add_argument("--lr", type=positive_float, help="learning rate")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order and noise")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<model>-<data>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR|STEP_DIR|auto",
                   help="continue a run exactly: from its newest checkpoint (RUN_DIR), from a chosen one "
                        "(RUN/checkpoints/step-N: later ones move to RUN/abandoned/), or with auto (needs --out) "
                        "from --out's newest checkpoint if it has one, else start it fresh")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's choice)")
    add_device(p, default=None)  # None: the config's train.device (auto unless set)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms (bitwise-reproducible GPU runs; slower)")
    p.set_defaults(run=run)


def duration(text: str) -> float:
    """argparse type for --time-budget: '900', '15m', '1h30m' -> seconds."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def requested_values(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Explicit user values (YAML, then --set, then flags) for the model, train and data sections."""
    sections = {"model": {}, "train": {}, "data": {}}
    if args.config:
        y = load_yaml(args.config) or {}
        if not isinstance(y, dict):
            raise ConfigError(f"config file {args.config}: expected sections model:, train:, data:, got a "
                              f"{type(y).__name__}")
        unknown = set(y) - set(sections)
        if unknown:
            raise ConfigError(f"config file {args.config}: unknown section(s) {sorted(unknown)}; use model, train, data")
        for s in sections:
            if not isinstance(y.get(s) or {}, dict):
                raise ConfigError(f"config file {args.config}: section {s}: should hold KEY: VALUE lines, got "
                                  f"{y[s]!r}")
            sections[s].update(y.get(s) or {})
    sets = dict(parse_assignment(a) for a in args.set)
    for s, vals in split_sections(sets, tuple(sections)).items():
        sections[s].update(vals)
    flags = {field: getattr(args, dest, None) for dest, field in FLAG_FIELDS.items()}
    train = sections["train"]
    train.update({k: v for k, v in flags.items() if v is not None})
    if args.steps is not None:
        train["epochs"] = None
    if args.epochs is not None:
        train["steps"] = None
    if train.get("time_budget_s") is not None and "steps" not in train and "epochs" not in train:
        # a requested budget replaces the preset's step count: the budget alone ends the run
        train.update(steps=None, epochs=None)
    if args.data:
        sections["data"]["name"] = args.data
    if getattr(args, "autoencoder", None):
        if args.data:
            raise ConfigError("give --autoencoder RUN (a prior learns its codes) or --data, not both")
        from ..codes import PREFIX, autoencoder_checkpoint

        sections["data"]["name"] = PREFIX + str(autoencoder_checkpoint(args.autoencoder))
    if getattr(args, "skip_bad_images", False):
        sections["data"]["skip_bad"] = True
    return sections["model"], sections["train"], sections["data"]


def check_unchanged(kind: str, saved: dict[str, Any], requested: dict[str, Any]) -> None:
    """Every explicitly requested architecture field must equal the checkpoint's (before loading anything)."""
    diffs = [f"{k} {saved.get(k)!r} (checkpoint) != {v!r} (requested)" for k, v in requested.items()
             if plain_value(saved.get(k)) != plain_value(v)]
    if diffs:
        raise ConfigError(f"config mismatch: {'; '.join(diffs)}; start a new run (--out) to change the {kind}")


def make_deterministic() -> None:
    """torch.use_deterministic_algorithms; cuBLAS needs its workspace setting before CUDA initialises."""
    import os

    if torch.cuda.is_available():
        if torch.cuda.is_initialized() and os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8"):
            raise ConfigError("--deterministic needs CUBLAS_WORKSPACE_CONFIG=:4096:8 set before CUDA starts; "
                              "export it and rerun")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def run(args: argparse.Namespace) -> int:
    """`dgm train`, on one process or on each of torchrun's (rank 0 locks the run and writes its files)."""
    world = World.from_environment(getattr(args, "device", None) or "auto")
    try:
        return run_in(args, world)
    finally:
        world.close()


def run_in(args: argparse.Namespace, world: World) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.deterministic:
        make_deterministic()
    if args.resume == "auto" and not args.out:
        raise ConfigError("--resume auto needs --out RUN: the run to continue, or to start when it has no checkpoint")
    if args.resume and args.resume != "auto":
        ckpt = read_checkpoint(args.resume)  # read-only: a committed checkpoint may be read while its run trains
        run_dir = Path(args.out) if args.out else run_dir_of(ckpt.path)
    else:
        data_name = requested_values(args)[2].get("name", DEFAULT_DATA)
        if args.autoencoder:  # runs/code-prior-<autoencoder run>-<time>
            data_name = Path(args.autoencoder).resolve().name
        ckpt, run_dir = None, Path(args.out) if args.out else world.broadcast_object(new_run_dir(args.model, data_name))
    # the run directory is this process's (rank 0's, for torchrun's processes) until it exits
    with RunLock(run_dir) if world.is_main else contextlib.nullcontext():
        if world.is_main:
            removed = clean_stale(run_dir / "checkpoints")  # leftovers of a killed save never block a restart
            if removed:
                log.info("removed %d unfinished checkpoint save(s) in %s", removed, run_dir / "checkpoints")
        world.barrier()  # the others look for checkpoints once rank 0 has cleaned up
        if args.resume == "auto":
            if committed(run_dir / "checkpoints"):
                ckpt = read_checkpoint(run_dir)
            else:
                log.info("no checkpoint in %s, starting fresh", run_dir)
        return train(args, ckpt, run_dir, world)


def run_dir_of(step_dir: Path) -> Path:
    """The run a checkpoint belongs to: RUN for RUN/checkpoints/step-N (so resuming from an older step continues
    RUN and never writes into the committed step directory)."""
    if step_dir.parent.name == "checkpoints":
        return step_dir.parent.parent
    raise ConfigError(f"{step_dir} is not inside a run's checkpoints/ folder; pass --out DIR for the continued run")


def train(args: argparse.Namespace, ckpt, run_dir: Path, world: World | None = None) -> int:
    """Build the model and trainer (resuming ``ckpt`` when given), train into ``run_dir`` (locked by the caller)."""
    if ckpt is not None:
        check_run_checkpoint(ckpt)
    name = args.model
    entry = models.get(name)
    trains_on_codes = getattr(entry.cls, "trains_on_codes", False)
    if getattr(args, "autoencoder", None) and not trains_on_codes:
        raise ConfigError(f"--autoencoder is for priors over an autoencoder's codes (dgm train code-prior), not {name}")
    if trains_on_codes and ckpt is None and not getattr(args, "autoencoder", None):
        raise ConfigError(f"{name} learns an autoencoder's codes: pass --autoencoder RUN_DIR (a vqvae or vqvae2 run)")
    model_vals, train_vals, data_vals = requested_values(args)
    unknown = set(data_vals) - {"name", "size", "skip_bad"}
    if unknown:
        raise ConfigError(f"unknown data key(s) {sorted(unknown)}; valid: name, size (pad/resize images to size x "
                          "size), skip_bad (image folders: skip unreadable files)")
    data_options = {k: coerce(v, int, f"data.{k}") for k, v in data_vals.items() if k == "size"}
    if coerce(data_vals.get("skip_bad", False), bool, "data.skip_bad"):
        data_options["skip_bad"] = True
    if data_options.get("size", 1) <= 0:
        raise ConfigError(f"data.size must be a positive number of pixels, got {data_options['size']}")
    if ckpt is not None:
        saved = ckpt.config
        if saved.get("model") != name:
            raise ConfigError(f"config mismatch: model {saved.get('model')!r} (checkpoint) != {name!r} (requested)")
        model_cfg = build_config(name, saved["model_config"])
        requested_model = to_dict(build_config(name, merge_values(entry.cls.Config, saved["model_config"], model_vals)))
        saved_model = to_dict(model_cfg)  # nested, whichever names the checkpoint used
        touched = leaves(nested(entry.cls.Config, model_vals))
        check_unchanged("model", {k: value_at(saved_model, k) for k in touched},
                        {k: value_at(requested_model, k) for k in touched})
        data_name = saved["data"]["name"]
        if data_vals.get("name", data_name) != data_name:
            raise ConfigError(f"config mismatch: data {data_name!r} (checkpoint) != {data_vals['name']!r} (requested)")
        check_unchanged("data", saved.get("data_options", {}), data_options)
        data_options = saved.get("data_options", {})
        train_cfg = from_dict(TrainConfig, {**saved["train"], **train_vals})
        changed = {k: (saved["train"].get(k), v) for k, v in to_dict(train_cfg).items()
                   if plain_value(saved["train"].get(k)) != plain_value(v)}
        check_config_unedited(run_dir, saved, {"model": name, "model_config": to_dict(model_cfg),
                                               "data_options": data_options, "train": to_dict(train_cfg)})
        if changed:
            log.warning("resuming with changed training settings: %s",
                        ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items()))
    else:
        model_cfg = build_config(name, model_vals)
        data_name = data_vals.get("name", DEFAULT_DATA)
        train_cfg = from_dict(TrainConfig, {**entry.train, **train_vals})
        changed = {}

    data = load_data(data_name, "train", args.data_dir, data_options)
    skipped = len(getattr(data, "skipped_files", []))
    val_data = None
    if train_cfg.eval_every or train_cfg.eval_every_s:
        data, val_data = load_validation(data_name, data, args.data_dir, data_options, train_cfg.val_size)
    seed_everything(train_cfg.seed)
    try:
        model = create_model(name, data.info, model_cfg)
    except (RuntimeError, ValueError, OverflowError, MemoryError) as e:  # e.g. a width too large to allocate
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ConfigError(f"cannot build {name} with these model settings ({msg}); check the model.* values") from None
    if ckpt is None and committed(run_dir / "checkpoints"):
        raise ConfigError(f"{run_dir} already holds a run; pass --resume {run_dir} (or --resume auto) to continue "
                          "it, or another --out")
    world = world or World()
    if ckpt is not None and ckpt.path.parent == run_dir / "checkpoints" and world.is_main:
        set_aside_later_checkpoints(run_dir, int(ckpt.train_state["step"]))
    trainer = Trainer(model, data, train_cfg, run_dir=run_dir, model_name=name, progress=not args.no_progress,
                      data_options=data_options, val_data=val_data, world=world)
    if ckpt is not None:
        trainer.load_state(ckpt)
        log.info("resumed %s at step %d", ckpt.path, trainer.step)
    resolved = {**trainer.checkpoint_config(), "data_dir": str(args.data_dir) if args.data_dir else None,
                "resolved": {"precision": trainer.precision, "train_size": len(data),
                             **({"skipped_bad_images": skipped} if skipped else {}),
                             **({"validation": f"{val_data.info.split} ({len(val_data)})"} if val_data else {})}}
    if world.distributed:
        resolved["resolved"]["processes"] = {"world_size": world.size, "backend": world.backend,
                                             "global_batch": trainer.global_batch}
    if changed:
        resolved["resumed_with_changes"] = {k: list(map(plain_value, v)) for k, v in changed.items()}
    if world.is_main:
        write_run_config(run_dir, resolved)
    if trainer.done():
        log.info("nothing to do: the run is already at step %d (%.0f training seconds); raise --steps or "
                 "--time-budget to continue it", trainer.step, trainer.clock.seconds())
        return 0
    final = trainer.fit()
    if not world.is_main:
        return 0
    summary = ", ".join(f"{k} {v:.4g}" for k, v in final.items())
    why = f", time budget {train_cfg.time_budget_s:g} s spent" if trainer.stopped_by_budget else ""
    print(f"trained {name} on {data_name} for {trainer.step} steps in {trainer.clock.seconds():.0f} s{why} "
          f"({summary})")
    if trainer.curve:
        last = trainer.curve[-1]
        key = next(k for k in last if k.startswith("val/"))
        best = f"; best {trainer.best['value']:.4g} at step {trainer.best['step']} in {run_dir / 'best'}" \
            if trainer.best else ""
        print(f"validation {key[4:]} {last[key]:.4g} on {last['val/n']} {last['val/split']} examples{best}")
    print(f"run: {run_dir}  samples: {run_dir / 'samples' / 'final.png'}")
    return 0
