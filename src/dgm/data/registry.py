"""The dataset registry: each source says which files it needs and how to parse them into an ImageDataset."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import DataError
from ..registry import Registry
from .dataset import ImageDataset
from .download import RemoteFile, fetch
from .paths import resolve_data_dir


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: its folder under the data directory, its files per split, and its parser."""

    name: str
    parse: Callable[[dict[str, Path], str], ImageDataset]  # (paths by file name, split) -> dataset
    files: dict[str, tuple[RemoteFile, ...]] = field(default_factory=dict)  # split -> files it needs
    folder: str = ""  # sub-folder of the data directory; defaults to the name
    description: str = ""
    splits: tuple[str, ...] = ("train", "test")
    offline: bool = False  # True when no files are needed (bundled or generated)


datasets: Registry[DatasetSpec] = Registry("dataset")


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the registry under ``spec.name``."""
    datasets.register(spec.name, help=spec.description)(spec)
    return spec


def locate(folder: Path, name: str) -> Path | None:
    """The file ``name`` in ``folder``, accepting it with or without a ``.gz`` suffix."""
    candidates = [name, name[:-3]] if name.endswith(".gz") else [name, name + ".gz"]
    for c in candidates:
        p = folder / c
        if p.is_file():
            return p
    return None


def dataset_folder(spec: DatasetSpec, data_dir: str | Path | None) -> Path:
    return resolve_data_dir(data_dir) / (spec.folder or spec.name)


def ensure_files(spec: DatasetSpec, split: str, data_dir: str | Path | None, download: bool = True) -> dict[str, Path]:
    """Paths of the split's files, downloading the missing ones (or DataError saying where to put them)."""
    folder = dataset_folder(spec, data_dir)
    needed = spec.files.get(split, ())
    found: dict[str, Path] = {}
    missing = []
    for f in needed:
        p = locate(folder, f.name)
        if p is None:
            missing.append(f)
        else:
            found[f.name] = p
    if missing and not download:
        names = ", ".join(f.name for f in missing)
        raise DataError(f"{spec.name}: missing {names} in {folder}; run `dgm data fetch {spec.name}` or copy them there")
    if missing:
        for f, p in zip(missing, fetch(missing, folder)):
            found[f.name] = p
    return found


def load(name: str, split: str = "train", data_dir: str | Path | None = None, download: bool = True, **options) -> ImageDataset:
    """Load dataset ``name`` (or ``folder:PATH``) split ``split`` as an in-memory ImageDataset."""
    if name.startswith("folder:"):
        from .sources.folder import load_folder

        return load_folder(name[len("folder:"):], **options)
    spec = datasets.get(name)
    if split not in spec.splits:
        raise DataError(f"{name} has no split {split!r}; it has {', '.join(spec.splits)}")
    paths = {} if spec.offline else ensure_files(spec, split, data_dir, download=download)
    return spec.parse(paths, split)
