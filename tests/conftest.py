"""Shared fixtures: the real-data directory (skip when absent) and small, fast defaults."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(min(2, torch.get_num_threads()))


def real_data_dir() -> Path | None:
    """$DGM_DATA_DIR, else ../shared/data beside the repository, else None."""
    env = os.environ.get("DGM_DATA_DIR")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(autouse=True)
def _seeded_rngs():
    """Every test starts from the same global RNG states, whatever ran before it: the suite passes in any
    order (pytest-randomly shuffles it) and each test alone."""
    import random

    import numpy as np

    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)


@pytest.fixture
def data_dir() -> Path:
    d = real_data_dir()
    if d is None:
        pytest.skip("no real data directory (set DGM_DATA_DIR or provide ../shared/data)")
    return d


@pytest.fixture(scope="session")
def mnist_small():
    """512 bundled MNIST images (offline)."""
    import dgm.data

    return dgm.data.load("mnist-10k").subset(slice(0, 512))


@pytest.fixture(scope="session")
def tiny_codes(tmp_path_factory):
    """A tiny VQ-VAE run (16 codes on a 7x7 map, one training step on bundled MNIST) and the codes of its
    training images: the data of a code prior (kind "codes"), as `dgm train code-prior` extracts it."""
    import dgm.codes
    import dgm.data
    from dgm.models import create, models
    from dgm.train import TrainConfig, Trainer

    run = tmp_path_factory.mktemp("tiny-vqvae")
    torch.manual_seed(0)
    images = dgm.data.load("mnist-10k").subset(slice(0, 64))
    ae = create("vqvae", images.info, **models.get("vqvae").cls.tiny)
    Trainer(ae, images, TrainConfig(steps=1, batch_size=16), run_dir=run, model_name="vqvae", progress=False).fit()
    return dgm.codes.code_dataset(run, "train").subset(slice(0, 64))
