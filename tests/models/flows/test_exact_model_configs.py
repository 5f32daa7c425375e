"""The YAML presets of the exact-likelihood models build their model and training configs."""
from pathlib import Path

import pytest

from dgm.config import from_dict, load_yaml
from dgm.data.dataset import DatasetInfo
from dgm.models import build_config, create
from dgm.train import TrainConfig

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
PRESETS = {"pixelcnn_binarized_mnist.yaml": "pixelcnn", "pixelcnn_gated_binarized_mnist.yaml": "gated-pixelcnn",
           "pixelcnn_gated_mnist_conditional.yaml": "gated-pixelcnn", "realnvp_mnist.yaml": "realnvp",
           "glow_mnist.yaml": "glow", "nice_mnist.yaml": "nice"}
DATA = {"binarized-mnist": DatasetInfo("binarized-mnist", "train", (1, 28, 28), kind="binary"),
        "mnist": DatasetInfo("mnist", "train", (1, 28, 28), num_classes=10)}


@pytest.mark.parametrize("file,name", sorted(PRESETS.items()))
def test_preset_builds(file, name):
    values = load_yaml(CONFIGS / file)
    model = create(name, DATA[values["data"]["name"]], config=build_config(name, values["model"]))
    train = from_dict(TrainConfig, values["train"])
    assert (train.steps or 0) > 0 or (train.time_budget_s or 0) > 0  # a length: steps or a time budget
    assert sum(p.numel() for p in model.parameters()) > 0
