"""Classification accuracy of a model that names classes (``Classifies``: the semi-supervised AAE) on labelled
examples."""
from __future__ import annotations

import torch

from ..data.dataset import ImageDataset
from ..errors import ConfigError


@torch.no_grad()
def classification_accuracy(model, data: ImageDataset, batch_size: int = 500, seed: int = 0) -> dict[str, object]:
    """Accuracy and error rate of ``model.classify`` (argmax) over ``data``'s labelled examples."""
    if data.labels is None:
        raise ConfigError(f"metric accuracy needs labelled data; {data.info.name} ({data.info.split}) has none")
    g = torch.Generator().manual_seed(seed)
    correct = 0
    for i in range(0, len(data), batch_size):
        x = model.prepare(data.data[i:i + batch_size], g, train=False).to(model.device)
        correct += int((model.classify(x).argmax(1).cpu() == data.labels[i:i + batch_size]).sum())
    accuracy = correct / len(data)
    return {"accuracy": accuracy, "error": 1 - accuracy, "n": len(data), "split": data.info.split}
