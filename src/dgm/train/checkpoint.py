"""Checkpoints: safetensors + JSON in a directory committed atomically, with a manifest written last.

Layout of ``<run>/checkpoints/step-N/``: model.safetensors, [ema.safetensors], train_state.safetensors
(optimizer and RNG tensors, flattened), train_state.json (scalars and optimizer hyper-parameters),
config.json (model name and config, data info, versions, format_version) and manifest.json (sha256 and
size of every file): a directory without a valid manifest does not exist. No pickle anywhere.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..data.download import sha256_of as sha256_file
from ..errors import CheckpointError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LATEST = "latest.json"


@dataclass
class Checkpoint:
    """Everything a checkpoint holds, loaded and verified."""

    path: Path
    config: dict[str, Any]
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None = None
    train_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    train_state: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.train_state.get("step", 0))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_json(path: Path, obj: Any) -> None:
    _write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode())


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))
    except SafetensorError as e:  # safetensors reports I/O errors as text: keep ENOSPC recognisable
        if "os error 28" in str(e) or "No space left" in str(e):
            raise OSError(errno.ENOSPC, f"No space left on device: {e}", str(path)) from None
        raise
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def nonfinite_tensors(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding NaN or Inf."""
    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def write_checkpoint(checkpoints_dir: Path, step: int, config: dict[str, Any], model: dict[str, torch.Tensor],
                     ema: dict[str, torch.Tensor] | None = None, train_tensors: dict[str, torch.Tensor] | None = None,
                     train_state: dict[str, Any] | None = None, keep: int = 2) -> Path:
    """Commit ``step-N/`` atomically (temp dir in the same folder, fsync, rename), update latest.json, prune.

    Refuses non-finite weights. On any failure the previous checkpoints are untouched and the temp dir removed.
    """
    bad = nonfinite_tensors(model) + [f"ema.{k}" for k in nonfinite_tensors(ema or {})]
    if bad:
        raise CheckpointError(f"refusing to save step {step}: non-finite values in {', '.join(bad[:5])}")
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoints_dir / f"step-{step}"
    tmp = Path(tempfile.mkdtemp(prefix=f"step-{step}.tmp-", dir=checkpoints_dir))
    try:
        _save_tensors(tmp / "model.safetensors", model)
        if ema is not None:
            _save_tensors(tmp / "ema.safetensors", ema)
        _save_tensors(tmp / "train_state.safetensors", train_tensors or {})
        _write_json(tmp / "train_state.json", train_state or {"step": step})
        _write_json(tmp / "config.json", {**config, "format_version": FORMAT_VERSION})
        files = {p.name: {"sha256": sha256_file(p), "size": p.stat().st_size} for p in sorted(tmp.iterdir())}
        _write_json(tmp / MANIFEST, {"step": step, "files": files})
        _fsync_dir(tmp)
        if final.exists():  # re-saving the same step (e.g. a signal right after a periodic save):
            old = Path(tempfile.mkdtemp(prefix=f"step-{step}.tmp-old-", dir=checkpoints_dir))
            os.replace(final, old / final.name)  # move the committed copy aside, never delete it first
            try:
                os.replace(tmp, final)
            except BaseException:
                os.replace(old / final.name, final)  # put it back
                old.rmdir()
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(checkpoints_dir)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(e, Exception):  # KeyboardInterrupt (second SIGINT), SystemExit: stop at once
            raise
        raise _save_error(e, checkpoints_dir, step, final) from e
    try:
        _write_latest(checkpoints_dir, final.name)
    except Exception as e:
        raise _save_error(e, checkpoints_dir, step, final, committed=True) from e
    prune(checkpoints_dir, keep)
    return final


def _save_error(e: Exception, checkpoints_dir: Path, step: int, final: Path, committed: bool = False) -> CheckpointError:
    """A CheckpointError naming the step and the path (and the full disk, for ENOSPC)."""
    if committed:
        state = f"{final} was committed but {LATEST} still names the previous checkpoint"
    else:
        state = "the previous checkpoint is intact"
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return CheckpointError(f"no space left on {checkpoints_dir} while saving checkpoint step {step} to {final}; "
                               f"free some space ({state})")
    return CheckpointError(f"could not save checkpoint step {step} to {final}: {type(e).__name__}: {e}; {state}")


def _write_latest(checkpoints_dir: Path, name: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=LATEST + ".tmp-", dir=checkpoints_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps({"latest": name}).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, checkpoints_dir / LATEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(checkpoints_dir)


def committed(checkpoints_dir: Path) -> list[Path]:
    """Committed checkpoint dirs (manifest present), oldest step first."""
    if not checkpoints_dir.is_dir():
        return []
    found = []
    for p in checkpoints_dir.iterdir():
        if p.is_dir() and p.name.startswith("step-") and ".tmp-" not in p.name and (p / MANIFEST).is_file():
            try:
                found.append((int(p.name[5:]), p))
            except ValueError:
                continue
    return [p for _, p in sorted(found)]


def clean_stale(checkpoints_dir: Path) -> int:
    """Delete temp leftovers of interrupted saves; returns how many were removed."""
    if not checkpoints_dir.is_dir():
        return 0
    n = 0
    for p in checkpoints_dir.iterdir():
        if ".tmp-" in p.name:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            n += 1
    return n


def prune(checkpoints_dir: Path, keep: int) -> None:
    """Keep the newest ``keep`` committed checkpoints (only ever called after a commit)."""
    if keep <= 0:
        return
    for p in committed(checkpoints_dir)[:-keep]:
        _remove_dir(p)


def _remove_dir(path: Path) -> None:
    """Rename to a ``.tmp-`` name first (atomic), then delete: a crash mid-way never leaves a half-deleted
    directory that still looks like a checkpoint (clean_stale removes the rest)."""
    try:
        doomed = path.with_name(f"{path.name}.tmp-del-{os.getpid()}-{os.urandom(4).hex()}")
        os.replace(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)


def find_checkpoint(path: str | Path) -> Path:
    """A run dir, a checkpoints dir or a step dir -> the newest committed, verified step dir."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    if (p / MANIFEST).is_file() or (p / "config.json").is_file() and p.name.startswith("step-"):
        return p
    ckdir = p / "checkpoints" if (p / "checkpoints").is_dir() else p
    # the newest committed step wins: latest.json can lag one commit behind after a crash between the
    # directory rename and the pointer update, and a committed directory is complete by construction
    candidates = committed(ckdir)
    if not candidates:
        raise CheckpointError(f"no checkpoint in {p}; train first (`dgm train ... --out {p}`)")
    return candidates[-1]


def verify(step_dir: Path) -> dict[str, Any]:
    """Check every file against the manifest (size, sha256); returns the manifest."""
    mpath = step_dir / MANIFEST
    if not mpath.is_file():
        raise CheckpointError(f"checkpoint {step_dir} has no manifest.json: it was never committed (interrupted save?)")
    try:
        manifest = json.loads(mpath.read_text())
        files = {str(name): (int(meta["size"]), str(meta["sha256"])) for name, meta in manifest["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CheckpointError(f"checkpoint {step_dir}: manifest.json is corrupt") from None
    for name, (size, sha256) in files.items():
        f = step_dir / name
        if Path(name).name != name:
            raise CheckpointError(f"checkpoint {step_dir}: manifest.json names a file outside it ({name!r})")
        if not f.is_file():
            raise CheckpointError(f"checkpoint {step_dir}: {name} missing")
        if f.stat().st_size != size:
            raise CheckpointError(f"checkpoint {step_dir / name} is truncated or corrupt "
                                  f"({f.stat().st_size} bytes, manifest says {size})")
        digest = sha256_file(f)
        if digest != sha256:
            raise CheckpointError(f"checkpoint {step_dir / name} does not match its manifest: "
                                  f"sha256 {digest} != {sha256} (expected)")
    return manifest


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({e})") from None


def read_config(step_dir: Path) -> dict[str, Any]:
    """config.json of a checkpoint, with its format version checked."""
    cpath = step_dir / "config.json"
    if not cpath.is_file():
        raise CheckpointError(f"checkpoint {step_dir}: config.json missing")
    try:
        config = json.loads(cpath.read_text())
    except ValueError:
        raise CheckpointError(f"checkpoint {step_dir}: config.json is corrupt") from None
    version = config.get("format_version", 0) if isinstance(config, dict) else None
    if not isinstance(version, int):
        raise CheckpointError(f"checkpoint {step_dir}: config.json is corrupt (format_version {version!r})")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"unsupported checkpoint format v{version} (this build reads <= {FORMAT_VERSION}); "
                              "upgrade dgm")
    return config


def read_checkpoint(path: str | Path, with_train_state: bool = True) -> Checkpoint:
    """Find, verify and load a checkpoint (run dir or step dir)."""
    step_dir = find_checkpoint(path)
    listed = verify(step_dir)["files"]
    needed = ["config.json", "model.safetensors"]
    if (step_dir / "ema.safetensors").is_file():
        needed.append("ema.safetensors")
    if with_train_state:
        needed += ["train_state.safetensors", "train_state.json"]
    for name in needed:  # every file read must exist and be covered by the manifest's hashes
        if not (step_dir / name).is_file():
            raise CheckpointError(f"checkpoint {step_dir}: {name} missing")
        if name not in listed:
            raise CheckpointError(f"checkpoint {step_dir}: {name} is not listed in {MANIFEST} (tampered or corrupt)")
    config = read_config(step_dir)
    ckpt = Checkpoint(step_dir, config, _load_tensors(step_dir / "model.safetensors"))
    if (step_dir / "ema.safetensors").is_file():
        ckpt.ema = _load_tensors(step_dir / "ema.safetensors")
    for file, tensors in (("model.safetensors", ckpt.model), ("ema.safetensors", ckpt.ema or {})):
        bad = nonfinite_tensors(tensors)  # safetensors does not check; dgm never writes such a file
        if bad:
            raise CheckpointError(f"checkpoint {step_dir / file} holds NaN/Inf values in {', '.join(bad[:5])}; "
                                  f"use an earlier checkpoint (--resume {step_dir.parent}/step-N)")
    if with_train_state:
        ckpt.train_tensors = _load_tensors(step_dir / "train_state.safetensors")
        try:
            ckpt.train_state = json.loads((step_dir / "train_state.json").read_text())
        except (OSError, ValueError):
            raise CheckpointError(f"checkpoint {step_dir}: train_state.json missing or corrupt") from None
    return ckpt


# what a run's loaders read, by type: a hand-edited or foreign file gets a one-line error naming the field
RUN_CONFIG_FIELDS = {"model": str, "model_config": dict, "data": dict, "train": dict}
TRAIN_STATE_FIELDS = {"step": int, "epoch": int, "batch_in_epoch": int, "optimizers": dict}


def check_run_checkpoint(ckpt: Checkpoint) -> None:
    """A checkpoint written by the Trainer has these fields (checked before a model is built or resumed)."""
    check_fields(ckpt.path / "config.json", ckpt.config, RUN_CONFIG_FIELDS)
    if not isinstance(ckpt.config["data"].get("name"), str):
        raise CheckpointError(f"{ckpt.path / 'config.json'} is corrupt: data.name missing; use another checkpoint "
                              "of the run")
    if ckpt.train_state:  # empty when read without the train state (sampling, evaluation)
        check_fields(ckpt.path / "train_state.json", ckpt.train_state, TRAIN_STATE_FIELDS)


def check_fields(path: Path, record: Any, fields: dict[str, type]) -> None:
    """Raise CheckpointError unless ``record`` is a dict holding each field with its type (ints >= 0)."""
    if not isinstance(record, dict):
        raise CheckpointError(f"{path} is corrupt: expected a JSON object, got {type(record).__name__}")
    for name, kind in fields.items():
        value = record.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            what = "missing" if name not in record else f"{value!r} is not a {kind.__name__}"
            raise CheckpointError(f"{path} is corrupt: {name} {what}; use another checkpoint of the run")


def load_legacy_pt(path: str | Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """A tensors-only ``.pt`` state dict, loaded with ``weights_only=True`` (pickle code never runs).

    ``trust_pickle=True`` (CLI ``--trust-pickle``) is the explicit, warned opt-in for full unpickling.
    """
    import pickle
    import warnings

    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path} needs unsafe (pickle) loading, refused: {str(e).splitlines()[0]}; "
                              "if you trust its source, pass --trust-pickle") from None
    except (OSError, RuntimeError, EOFError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({e})") from None
    if trust_pickle:
        warnings.warn(f"loaded {path} with full pickle: only do this for files you trust", stacklevel=2)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a flat dict of tensors")
    return obj
