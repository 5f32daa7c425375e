"""Run directories: naming, the resolved config file, and rebuilding a trained model from a checkpoint."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from .config import format_assignment_value, plain_value
from .data.dataset import DatasetInfo
from .errors import CheckpointError, ConfigError
from .models.base import GenerativeModel, check_sample_options
from .models.registry import build_config, create
from .train.checkpoint import Checkpoint, check_run_checkpoint, committed, read_checkpoint
from .train.trainer import load_weights

log = logging.getLogger("dgm")


def new_run_dir(model: str, data: str, root: str | Path = "runs") -> Path:
    """``runs/<model>-<dataset>-<YYYYmmdd-HHMMSS>`` (a suffix is added if it exists)."""
    safe = data.replace("folder:", "folder-").replace("/", "_").strip("_")
    base = Path(root) / f"{model}-{safe}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path


def write_run_config(run_dir: Path, config: dict[str, Any]) -> Path:
    """Write the resolved config (model, data, train, versions) as config.yaml."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


EDITABLE_ON_RESUME = ("train",)  # sections a resume may change (with --set); the others are the run's identity


def check_config_unedited(run_dir: Path, saved: dict[str, Any], resuming: dict[str, Any]) -> None:
    """ConfigError when RUN/config.yaml was edited by hand: a setting that differs both from the checkpoint's
    (``saved``) and from what this resume will use (``resuming``: sections model, model_config, data_options,
    train) would otherwise be ignored and then overwritten. A file that still matches either is fine."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return
    try:
        on_disk = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is no longer the YAML this run wrote ({str(e).splitlines()[0]}); restore or "
                          "delete it (resuming rewrites it) and pass changes as --set") from None
    if not isinstance(on_disk, dict):
        raise ConfigError(f"{path} is no longer the YAML this run wrote; restore or delete it (resuming rewrites "
                          "it) and pass changes as --set")
    edits = []
    for section, now in resuming.items():
        before, edited = saved.get(section), on_disk.get(section)
        if not isinstance(now, dict):
            if plain_value(edited) not in (plain_value(before), plain_value(now)):
                edits.append((section, before, edited))
            continue
        edited = edited if isinstance(edited, dict) else {}
        for key in sorted(set(now) | set(edited)):
            b, e = (before or {}).get(key), edited.get(key)
            if plain_value(e) not in (plain_value(b), plain_value(now.get(key))):
                edits.append((f"{section}.{key}", b, e))
    if not edits:
        return
    listed = "; ".join(f"{k}: {b!r} -> {e!r}" for k, b, e in edits)
    fixes = [f"--set {k}={format_assignment_value(e)}" for k, _, e in edits if k.split(".")[0] in EDITABLE_ON_RESUME]
    fixed = len(fixes) == len(edits)
    how = (f"pass {' '.join(fixes)} to apply {'them' if len(fixes) > 1 else 'it'}" if fixes else "") + \
        ("" if fixed else f"{'; ' if fixes else ''}model and data settings cannot change on resume (start a new "
                          "run with --out)")
    raise ConfigError(f"{path} was edited ({listed}), but a resume takes its settings from the checkpoint and the "
                      f"command line and rewrites config.yaml: {how}, or restore or delete config.yaml to resume "
                      "unchanged")


def set_aside_later_checkpoints(run_dir: Path, step: int) -> None:
    """Resuming from an older step abandons the run's later history: move later checkpoints to RUN/abandoned/
    (kept, not deleted) and drop metrics.jsonl lines past ``step`` (they would repeat)."""
    later = [p for p in committed(run_dir / "checkpoints") if int(p.name[5:]) > step]
    if later:
        dest = run_dir / "abandoned"
        dest.mkdir(exist_ok=True)
        for p in later:
            os.replace(p, dest / f"{p.name}-{int(time.time())}")
        log.warning("resuming %s from step %d: moved %d later checkpoint(s) to %s", run_dir, step, len(later), dest)
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        kept = []
        for line in metrics.read_text().splitlines(keepends=True):
            try:
                record_step = json.loads(line).get("step", 0)
            except ValueError:  # a line cut by a crash
                continue
            if isinstance(record_step, int) and record_step <= step:
                kept.append(line)
        tmp = metrics.with_name(metrics.name + ".tmp")
        tmp.write_text("".join(kept))
        os.replace(tmp, metrics)


def create_model(name: str, info: DatasetInfo, config: Any) -> GenerativeModel:
    """``models.create``, plus what a model of a second stage needs from its first: a prior over codes (data of
    kind "codes") gets the autoencoder that decodes them, checked to be the one its codes came from."""
    model = create(name, info, config=config)
    if info.kind == "codes":
        from .codes import load_autoencoder

        model.attach_autoencoder(load_autoencoder(info.codes))
    return model


def model_from_checkpoint(ckpt: Checkpoint, ema: bool = True) -> GenerativeModel:
    """Rebuild the model a checkpoint describes and load its (EMA, if present) weights; eval mode."""
    cfg = ckpt.config
    check_run_checkpoint(ckpt)
    try:
        name, info = cfg["model"], DatasetInfo.from_dict(cfg["data"])
        config = build_config(name, cfg["model_config"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: config.json is corrupt ({e})") from None
    model = create_model(name, info, config)
    weights = ckpt.ema if (ema and ckpt.ema is not None) else ckpt.model  # finite: read_checkpoint checked
    load_weights(model, weights, ckpt.path)
    return model.eval()


def load_run(path: str | Path, ema: bool = True, device: str = "cpu") -> tuple[GenerativeModel, Checkpoint]:
    """A run dir (or checkpoint dir) -> (trained model in eval mode on ``device`` (auto, cpu, cuda[:N]), its
    checkpoint)."""
    from .train.device import resolve_device

    ckpt = read_checkpoint(path, with_train_state=False)
    return model_from_checkpoint(ckpt, ema).to(resolve_device(device)), ckpt


def load_classifier(path: str | Path, diffusion: GenerativeModel, device: torch.device | str = "cpu",
                    ema: bool = True):
    """The guidance classifier in ``path`` (its run or checkpoint directory, `dgm train-classifier`), checked
    against the ``diffusion`` model it will guide (same schedule, T and image shape); eval mode on ``device``."""
    from .config import from_dict
    from .models.diffusion.classifier import NAME, ClassifierConfig, GuidanceClassifier

    ckpt = read_checkpoint(path, with_train_state=False)
    cfg = ckpt.config
    if cfg.get("model") != NAME:
        raise ConfigError(f"{path} is a {cfg.get('model')!r} run, not a guidance classifier; train one with "
                          "`dgm train-classifier RUN --out DIR`")
    try:
        info = DatasetInfo.from_dict(cfg["data"])
        model = GuidanceClassifier(from_dict(ClassifierConfig, cfg["model_config"]), info)
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: config.json is corrupt ({e})") from None
    mine, theirs = model.config, diffusion.config
    if (mine.schedule, mine.steps) != (theirs.schedule, theirs.steps):
        raise ConfigError(f"{path} was trained on a {mine.schedule} schedule of {mine.steps} steps, the diffusion "
                          f"uses {theirs.schedule} with {theirs.steps}; train a classifier for this run")
    if tuple(info.shape) != tuple(diffusion.shape):
        raise ConfigError(f"{path} classifies images {tuple(info.shape)}, the diffusion draws {diffusion.shape}")
    load_weights(model, ckpt.ema if ema and ckpt.ema is not None else ckpt.model, ckpt.path)
    return model.eval().to(device)


def load_data(name: str, split: str, data_dir: str | Path | None, options: dict[str, Any] | None = None):
    """Load a dataset split with the run's data options (``size``: pad/resize every image once; ``skip_bad``:
    image folders skip unreadable files, counted, instead of failing)."""
    from .codes import PREFIX, code_dataset, is_codes
    from .data import load
    from .data.transforms import resize_dataset

    if is_codes(name):  # an autoencoder's codes of its dataset's split (dgm train code-prior)
        return code_dataset(name[len(PREFIX):], split, data_dir)
    extra = {"skip_bad": True} if (options or {}).get("skip_bad") and name.startswith("folder:") else {}
    ds = load(name, split=split, data_dir=data_dir, **extra)
    size = (options or {}).get("size")
    return resize_dataset(ds, int(size)) if size else ds


def load_validation(name: str, train, data_dir: str | Path | None, options: dict[str, Any] | None = None,
                    carve: int = 5000):
    """(training data, validation data): the dataset's ``valid`` split when it has one, else ``carve`` images
    (at most 10%) carved from ``train`` by a fixed permutation and removed from it. Never the test split."""
    from .codes import code_validation, is_codes
    from .data import datasets
    from .data.validation import carve_validation

    if is_codes(name):
        return code_validation(train, data_dir, carve)
    if not name.startswith("folder:") and "valid" in datasets.get(name).splits:
        return train, load_data(name, "valid", data_dir, options)
    return carve_validation(train, carve)


def default_split(dataset: str) -> str:
    """test, or the dataset's only split when it has no test split (dSprites: train)."""
    from .codes import is_codes
    from .data import datasets

    if dataset.startswith("folder:") or is_codes(dataset) or dataset not in datasets:
        return "test"
    splits = datasets.get(dataset).splits
    return "test" if "test" in splits else splits[0]


def load_run_data(ckpt: Checkpoint, split: str = "test", data_dir: str | Path | None = None):
    """The split of the dataset a checkpoint was trained on, prepared the same way."""
    return load_data(ckpt.config["data"]["name"], split, data_dir, ckpt.config.get("data_options"))


@torch.no_grad()
def sample_images(model: GenerativeModel, n: int, seed: int = 0, batch: int | None = None,
                  labels: torch.Tensor | None = None, **options) -> torch.Tensor:
    """n samples in batches (default: the model's ``sample_batch``) from a seeded generator (images in [0, 1]
    or points); labels (n,) optional; ``options``: the model's sampling options (an unknown one is a
    ConfigError naming the known ones). The batch size is part of what a seed draws."""
    check_sample_options(model, options)
    batch = batch or model.sample_batch
    g = torch.Generator().manual_seed(seed)
    parts = [model.sample(min(batch, n - i), generator=g,
                          labels=None if labels is None else labels[i : i + batch], **options).cpu()
             for i in range(0, n, batch)]
    return torch.cat(parts)
