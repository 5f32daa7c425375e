"""GANs through the dgm command as a user meets them: sampling 2-D points (npz and scatter), labels and
truncation, latent interpolations and InfoGAN code traversals."""
import numpy as np
import pytest
import torch
from PIL import Image

from dgm.cli.main import main
from dgm.models import create, models
from dgm.data import load
from dgm.viz.generator_latent import interpolate_drawn, traverse_codes

TINY = ["--set", "model.channels=8", "--set", "model.latent_dim=8", "--no-progress", "--batch-size", "16"]


def dgm(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs of gan on ring8, acgan and infogan on bundled MNIST (4 steps each)."""
    root = tmp_path_factory.mktemp("gan-runs")
    assert dgm("train", "gan", "--data", "ring8", "--steps", 4, "--out", root / "gan",
               "--set", "model.mlp_hidden=[16]", *TINY) == 0
    for name in ("acgan", "infogan"):
        assert dgm("train", name, "--steps", 4, "--out", root / name, *TINY) == 0
    return root


def test_points_sample_to_npz_and_scatter(runs, tmp_path):
    assert dgm("sample", runs / "gan", "-n", 300, "--out", tmp_path / "p.npz") == 0
    points = np.load(tmp_path / "p.npz")["points"]
    assert points.dtype == np.float32 and points.shape == (300, 2) and np.isfinite(points).all()
    assert dgm("sample", runs / "gan", "-n", 300, "--out", tmp_path / "p.png") == 0
    assert Image.open(tmp_path / "p.png").size[0] > 100


def test_labels_and_truncation_on_the_command_line(runs, tmp_path):
    out = tmp_path / "s.npz"
    assert dgm("sample", runs / "acgan", "-n", 20, "--labels", "all", "--truncation", 0.5, "--out", out) == 0
    saved = np.load(out)
    assert saved["images"].shape == (20, 1, 28, 28) and saved["labels"].tolist() == list(range(10)) * 2
    assert dgm("sample", runs / "acgan", "-n", 4, "--labels", "11", "--out", out) == 2  # not a class


@pytest.mark.parametrize("kind", ["interpolate", "traverse"])
def test_viz_of_gans(runs, tmp_path, kind):
    for name in ("acgan", "infogan"):
        out = tmp_path / f"{name}-{kind}.png"
        assert dgm("viz", runs / name, kind, "--out", out, "--rows", 3, "--steps", 5) == 0
        assert out.is_file()
    assert dgm("viz", runs / "infogan", "traverse", "--code-dim", 5, "--out", tmp_path / "x.png") == 2
    assert dgm("viz", runs / "acgan", "manifold", "--out", tmp_path / "x.png") == 2


def _spied(name):
    """A tiny untrained GAN whose ``render`` records the latents it is given -> (model, list of latents)."""
    torch.manual_seed(0)
    model = create(name, load("mnist-10k").info, **models.get(name).cls.tiny).eval()
    seen, render = [], model.render
    model.render = lambda lat: seen.append(lat) or render(lat)
    return model, seen


def test_interpolation_rows_keep_labels_and_end_at_their_draws():
    model, seen = _spied("acgan")
    images = interpolate_drawn(model, rows=3, steps=4, generator=torch.Generator().manual_seed(0))
    assert images.shape == (12, 1, 28, 28)
    lat = seen[0]
    assert lat.labels.reshape(3, 4).eq(lat.labels.reshape(3, 4)[:, :1]).all()  # one label per row
    g = torch.Generator().manual_seed(0)
    a, b = model.draw(3, generator=g), model.draw(3, generator=g)  # the same two draws
    z = lat.z.reshape(3, 4, -1)
    torch.testing.assert_close(z[:, 0], a.z)  # each row runs in a straight line from one draw to the other
    torch.testing.assert_close(z[:, -1], b.z)
    torch.testing.assert_close(z[:, 2] - z[:, 1], z[:, 1] - z[:, 0])


def test_infogan_traversal_grid_layout():
    model, seen = _spied("infogan")
    images, columns = traverse_codes(model, steps=5, span=2.0, dim=1, generator=torch.Generator().manual_seed(0))
    lat = seen[0]
    assert columns == 5 and images.shape == (50, 1, 28, 28)
    assert lat.code.tolist() == [c for c in range(10) for _ in range(5)]  # a row per categorical value
    assert torch.equal(lat.continuous[:5, 1], torch.linspace(-2, 2, 5)) and (lat.continuous[:, 0] == 0).all()
    assert (lat.z == lat.z[:1]).all()  # one z for the grid


def test_traversal_of_a_plain_gan_varies_one_z_dim_per_row():
    model, seen = _spied("dcgan")
    _, columns = traverse_codes(model, rows=3, steps=4, span=3.0, generator=torch.Generator().manual_seed(0))
    z = seen[0].z.reshape(3, 4, -1)
    for row in range(3):
        assert torch.equal(z[row, :, row], torch.linspace(-3, 3, 4))
        others = torch.cat([z[row, :, :row], z[row, :, row + 1:]], 1)
        assert (others == others[:1]).all()
