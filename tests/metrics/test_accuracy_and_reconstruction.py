"""The accuracy metric and the reconstruction error of 2-D points, against hand counts on stand-in models."""
import torch

import dgm.data
from dgm.metrics.classification import classification_accuracy
from dgm.metrics.reconstruction import reconstruction_error


class Guesser:
    """classify says class 3 for every image: right exactly on the 3s."""

    device = torch.device("cpu")

    def prepare(self, x, generator=None, train=True):
        return x.float()

    def classify(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float()


def test_accuracy_counts_right_answers():
    data = dgm.data.load("mnist-10k", split="test")
    out = classification_accuracy(Guesser(), data, batch_size=300)
    share = float((data.labels == 3).double().mean())
    assert out["accuracy"] == share and out["error"] == 1 - share and out["n"] == len(data) and 0 < share < 0.2


class Copier:
    device = torch.device("cpu")

    def prepare(self, x, generator=None, train=True):
        return x

    def reconstruct(self, x):
        return x


def test_points_are_their_own_reconstruction_target():
    ring = dgm.data.load("ring8").subset(slice(0, 300))
    assert reconstruction_error(Copier(), ring)["mse"] == 0.0
