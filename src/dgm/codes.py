"""Code datasets for two-stage models: the images of a discrete autoencoder's dataset (VQ-VAE, VQ-VAE-2) encoded
once into code indices, so that a prior over codes trains on them (`dgm train code-prior --autoencoder RUN`).

A code dataset is named ``codes:<checkpoint dir>``, the autoencoder's committed checkpoint, and its info records
that checkpoint's fingerprint (the sha256 of its manifest, which lists the sha256 of every file in it). The codes
are cached in ``<autoencoder run>/codes/<fingerprint>-<split>.safetensors``: a retrained autoencoder gets new
codes, never stale ones. A prior loads its autoencoder only when the fingerprint still matches.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch

from .data.dataset import DatasetInfo, ImageDataset
from .errors import CheckpointError, ConfigError, DataError
from .models.base import DiscreteCodes, GenerativeModel

log = logging.getLogger("dgm")
PREFIX = "codes:"
MANIFEST = "manifest.json"


def is_codes(name: str) -> bool:
    return name.startswith(PREFIX)


def fingerprint(checkpoint: Path) -> str:
    """sha256 (hex) of a committed checkpoint's manifest.json: it changes whenever any file in it does."""
    try:
        return hashlib.sha256((checkpoint / MANIFEST).read_bytes()).hexdigest()
    except OSError as e:
        raise CheckpointError(f"{checkpoint}: cannot read its {MANIFEST} ({e.strerror}); is it a committed "
                              "checkpoint?") from None


def autoencoder_checkpoint(path: str | Path) -> Path:
    """A run or checkpoint directory -> the committed checkpoint directory it resolves to (a run: its newest)."""
    from .train.checkpoint import read_checkpoint

    return read_checkpoint(path, with_train_state=False).path.resolve()


def _run_dir(checkpoint: Path) -> Path:
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint


def load_autoencoder(codes: dict, device: str | torch.device = "cpu") -> GenerativeModel:
    """The autoencoder a code dataset's info (``info.codes``) records, in eval mode; CheckpointError when its
    checkpoint is gone or changed since the codes were taken (a prior trained on other codes would decode
    them into nonsense)."""
    from .runs import load_run

    path = Path(codes["autoencoder"])
    if not (path / MANIFEST).is_file():
        raise CheckpointError(f"the autoencoder checkpoint {path} that this prior was trained on is gone; restore "
                              "it, or train a new prior with `dgm train code-prior --autoencoder RUN`")
    now = fingerprint(path)
    if now != codes["sha256"]:
        raise CheckpointError(f"the autoencoder checkpoint {path} changed since this prior was trained on its "
                              f"codes (sha256 {now[:12]}, the prior's {codes['sha256'][:12]}); train a new prior "
                              "with `dgm train code-prior --autoencoder RUN`")
    model, _ = load_run(path, device=str(device))
    return model


@torch.no_grad()
def encode_images(model: GenerativeModel, images: ImageDataset, batch_size: int = 500) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> their code indices (N, L) int16, every level's map flattened in raster order
    and concatenated, top level first."""
    g = torch.Generator().manual_seed(0)  # a stochastic input transform (binarisation) encodes the same way
    parts = []
    for i in range(0, len(images), batch_size):
        x = model.prepare(images.data[i:i + batch_size], g, train=False).to(model.device)
        levels = model.encode(x)
        levels = levels if isinstance(levels, (tuple, list)) else (levels,)
        parts.append(torch.cat([c.flatten(1) for c in levels], 1).to(torch.int16).cpu())
    return torch.cat(parts)


def code_dataset(source: str | Path, split: str, data_dir: str | Path | None = None) -> ImageDataset:
    """The codes of ``split`` of the autoencoder's dataset; ``source``: its run or checkpoint directory (a run
    resolves to its newest checkpoint). Extracted once per checkpoint and split, then read from the cache."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from .runs import load_run, load_run_data

    checkpoint = autoencoder_checkpoint(source)
    fp = fingerprint(checkpoint)
    model, ckpt = load_run(checkpoint)
    if not isinstance(model, DiscreteCodes):
        raise ConfigError(f"{source} is a {ckpt.config.get('model')!r} run; a code prior needs an autoencoder with "
                          "discrete codes (train one with `dgm train vqvae` or `dgm train vqvae2`)")
    images = load_run_data(ckpt, split, data_dir)
    cache = _run_dir(checkpoint) / "codes" / f"{fp[:16]}-{split}.safetensors"
    checksum = images.checksum()
    codes = None
    if cache.is_file():
        try:
            with safe_open(str(cache), "pt") as f:
                if (f.metadata() or {}).get("images_sha256") == checksum:
                    codes = f.get_tensor("codes")
        except (OSError, RuntimeError, KeyError, ValueError):  # unreadable: extract again
            codes = None
        if codes is not None and (codes.dtype != torch.int16 or codes.dim() != 2 or len(codes) != len(images)):
            codes = None
    if codes is None:
        log.info("encoding %d %s images with %s", len(images), split, checkpoint)
        codes = encode_images(model, images)
        try:
            cache.parent.mkdir(exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
            save_file({"codes": codes}, str(tmp), metadata={"images_sha256": checksum})
            os.replace(tmp, cache)
        except OSError as e:  # a read-only autoencoder run: use the codes without caching them
            log.warning("could not cache codes in %s (%s); they are extracted again next time", cache, e.strerror)
    shapes = [list(s) for s in model.code_shapes]
    if codes.shape[1] != sum(h * w for h, w in shapes):
        raise DataError(f"{cache}: codes of length {codes.shape[1]} do not fit the code maps {shapes}; delete it")
    info = DatasetInfo(name=PREFIX + str(checkpoint), split=split, shape=(codes.shape[1],),
                       num_classes=images.info.num_classes, kind="codes",
                       codes={"autoencoder": str(checkpoint), "sha256": fp, "num_codes": int(model.num_codes),
                              "levels": shapes, "model": ckpt.config["model"], "dataset": images.info.name})
    return ImageDataset(codes, images.labels, info)


def code_validation(train: ImageDataset, data_dir: str | Path | None, carve: int) -> tuple[ImageDataset, ImageDataset]:
    """(training codes, validation codes): the codes of the image dataset's ``valid`` split when it has one, else
    codes carved from ``train`` by the same fixed permutation that carves the images (so the autoencoder and
    its prior hold out the same images)."""
    from .data import datasets
    from .data.validation import carve_validation

    image_name = train.info.codes["dataset"]
    if not image_name.startswith("folder:") and "valid" in datasets.get(image_name).splits:
        return train, code_dataset(train.info.codes["autoencoder"], "valid", data_dir)
    return carve_validation(train, carve)


def image_reference(info: DatasetInfo, split: str, data_dir: str | Path | None = None) -> ImageDataset:
    """The images behind a code dataset (``info``): ``split`` of the autoencoder's dataset, prepared as it was
    trained; the reference of the sample-quality metrics of a prior's decoded samples."""
    from .runs import load_run_data
    from .train.checkpoint import read_checkpoint

    return load_run_data(read_checkpoint(info.codes["autoencoder"], with_train_state=False), split, data_dir)
