"""Feature networks for sample-quality metrics: bundled 28x28 domain classifiers and Inception-v3.

Every metric result records which network produced its features (``FeatureNet.name``), how many samples it
used and which reference split it compared against, so numbers from different networks are never mixed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DgmError
from ..registry import Registry

ASSETS = Path(__file__).resolve().parent / "assets"


class SmallCNN(nn.Module):
    """1x28x28 classifier: two conv blocks (32, 64 channels), a 128-unit penultimate layer, 10 logits."""

    def __init__(self, classes: int = 10, width: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, width), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(width, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 28, 28) in [0, 1] -> logits (B, classes)."""
        return self.head(self.body(x))

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 1, 28, 28) in [0, 1] -> (penultimate features (B, width), class probabilities (B, classes))."""
        f = self.body(x)
        return f, F.softmax(self.head(f), dim=1)


@dataclass
class FeatureNet:
    """A loaded feature network: name, input shape it expects, and the function computing (features, probs)."""

    name: str
    shape: tuple[int, int, int] | None  # None: any size (the network resizes)
    extract: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    description: str = ""

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """images: uint8 (N, C, H, W) or float in [0, 1] -> (features (N, D), probs (N, K)), float32. Images up to
        8 pixels larger than the network's input (MNIST zero-padded to 32x32 by ``data.size``) are centre-cropped
        to it: for padded data the exact inverse; a generator's border is not scored."""
        if images.dim() == 4 and self.shape is not None and images.shape[1] == self.shape[0]:
            dh, dw = images.shape[2] - self.shape[1], images.shape[3] - self.shape[2]
            if 0 <= dh <= 8 and 0 <= dw <= 8 and (dh or dw):
                images = images[:, :, dh // 2: dh // 2 + self.shape[1], dw // 2: dw // 2 + self.shape[2]]
        if images.dim() != 4 or (self.shape is not None and tuple(images.shape[1:]) != self.shape):
            raise ConfigError(f"feature network {self.name} expects images of shape {self.shape}, "
                              f"got {tuple(images.shape[1:])}")
        feats, probs = [], []
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size]
            x = x.float() / 255.0 if not x.is_floating_point() else x.float()
            f, p = self.extract(x)
            feats.append(f.float())
            probs.append(p.float())
        return torch.cat(feats), torch.cat(probs)


feature_nets: Registry[Callable[[], FeatureNet]] = Registry("feature network")


def _bundled(name: str, description: str) -> Callable[[], FeatureNet]:
    def load() -> FeatureNet:
        from safetensors.torch import load_file

        path = ASSETS / f"{name}.safetensors"
        if not path.is_file():
            raise DgmError(f"bundled weights {path} are missing; run tools/train_feature_net.py {name} "
                           "(or reinstall dgm)")
        net = SmallCNN()
        net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
        net.eval()
        return FeatureNet(name, (1, 28, 28), net.features, description)

    feature_nets.register(name, help=description)(load)
    return load


_bundled("mnist-cnn", "bundled MNIST classifier (small CNN); 128-d penultimate features, 10-way softmax")
_bundled("fashion-mnist-cnn", "bundled Fashion-MNIST classifier (small CNN); 128-d features, 10-way softmax")

INCEPTION_HELP = ("Inception-v3 FID weights are not available locally: install the extra "
                  "(pip install 'dgm[fid-inception]') and place pt_inception-2015-12-05-6726825d.pth in "
                  "$DGM_INCEPTION_WEIGHTS's folder or torch's hub cache (torch.hub.get_dir()/checkpoints), "
                  "or use a bundled network for 28x28 data (--features mnist-cnn)")


@feature_nets.register("inception-v3", help="Inception-v3 (torch-fidelity's FID network): 2048-d pool features")
def _inception() -> FeatureNet:
    """The standard FID network through torch-fidelity, only from weights already on disk (never fetched)."""
    weights_name = "pt_inception-2015-12-05-6726825d.pth"
    folders = [Path(os.environ["DGM_INCEPTION_WEIGHTS"]).parent] if os.environ.get("DGM_INCEPTION_WEIGHTS") else []
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    path = next((f / weights_name for f in folders if (f / weights_name).is_file()), None)
    if path is None:
        raise DgmError(INCEPTION_HELP)
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise DgmError(INCEPTION_HELP) from None
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                      feature_extractor_weights_path=str(path)).eval()

    def extract(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        f, logits = net((x * 255).round().to(torch.uint8))
        return f, F.softmax(logits, dim=1)

    return FeatureNet("inception-v3", None, extract, "Inception-v3 pool3 (torch-fidelity)")


DEFAULT_FOR_DATASET = {"mnist": "mnist-cnn", "mnist-10k": "mnist-cnn", "binarized-mnist": "mnist-cnn",
                       "fashion-mnist": "fashion-mnist-cnn"}


def load_feature_net(name: str) -> FeatureNet:
    """A feature network by registered name (bundled weights, or Inception-v3 from local weights)."""
    return feature_nets.get(name)()


def default_feature_net(dataset: str) -> str:
    """The feature network used for a dataset unless the user names one."""
    return DEFAULT_FOR_DATASET.get(dataset, "inception-v3")
