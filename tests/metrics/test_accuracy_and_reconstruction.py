"""The accuracy metric, the reconstruction error of 2-D points and of images (with the reconstructions sample-quality
metrics score), against hand counts on stand-in models."""
import torch

import dgm.data
from dgm.metrics.classification import classification_accuracy
from dgm.metrics.reconstruction import reconstructed_images, reconstruction_error


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


class Darkener:
    """Reconstructs images in [0, 1] at 0.9 times their brightness."""

    device = torch.device("cpu")

    def prepare(self, x, generator=None, train=True):
        return x.float() / 255

    def reconstruct(self, x):
        return 0.9 * x


def test_reconstructed_images_are_what_the_error_scores():
    data = dgm.data.load("mnist-10k", split="test").subset(slice(0, 300))
    recs = reconstructed_images(Darkener(), data, batch_size=128)  # batches that do not divide 300
    unit = data.data.double() / 255
    assert recs.shape == (300, 1, 28, 28)
    torch.testing.assert_close(recs.double(), 0.9 * unit, rtol=0, atol=1e-6)
    expected = float((0.1 * unit).pow(2).mean())
    assert abs(reconstruction_error(Darkener(), data, batch_size=128)["mse"] - expected) < 1e-9
