"""Datasets as in-memory tensors: ``dgm.data.load("mnist", split="train")``."""
from . import sources  # noqa: F401  (registers every dataset)
from .dataset import DatasetInfo, ImageDataset, epoch_order, iterate_batches
from .registry import DatasetSpec, datasets, load
from .transforms import input_transforms

__all__ = ["DatasetInfo", "ImageDataset", "DatasetSpec", "datasets", "load", "input_transforms",
           "epoch_order", "iterate_batches"]
