"""Small data for the GAN tests: bundled MNIST images and the 2-D toys."""
import pytest
import torch

import dgm.data
from dgm.models import create, models


@pytest.fixture(scope="session")
def mnist64():
    """64 bundled MNIST images (1x28x28 uint8) with labels."""
    return dgm.data.load("mnist-10k").subset(slice(0, 64))


@pytest.fixture(scope="session")
def ring():
    """512 points of the ring of 8 Gaussians (float32 (N, 2), labels = mode)."""
    return dgm.data.load("ring8").subset(slice(0, 512))


@pytest.fixture
def tiny_gan():
    """tiny_gan(name, info, **values) -> a registered GAN with its class's tiny widths, seeded."""

    def make(name, info, **values):
        torch.manual_seed(0)
        return create(name, info, **{**models.get(name).cls.tiny, **values})

    return make
