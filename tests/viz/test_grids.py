"""Sample grids and latent pictures: layout, ranges and files."""
import numpy as np
import torch
from PIL import Image

import dgm.data
from dgm.models import create
from dgm.viz import grid, save_grid, save_scatter, to_uint8
from dgm.viz.latent import interpolate, manifold, slerp, traverse


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-0.5, 0.0, 0.6 / 255, 0.4 / 255, 1.0, 2.0]).view(1, 1, 1, 6)
    assert to_uint8(x).ravel().tolist() == [0, 0, 1, 0, 255, 255]


def test_grid_places_images_row_major():
    imgs = torch.zeros(5, 1, 2, 2)
    for i in range(5):
        imgs[i] = i / 4
    g = grid(imgs, nrow=3, padding=1)
    assert g.shape == (2 * 3 + 1, 3 * 3 + 1, 1)
    assert g[1, 1, 0] == 0 and g[1, 4, 0] == round(255 / 4) and g[4, 1, 0] == round(3 * 255 / 4)


def test_save_grid_and_scatter(tmp_path):
    p = save_grid(torch.rand(6, 3, 4, 4), tmp_path / "g.png", nrow=3, scale=1)
    assert Image.open(p).size == (3 * 6 + 2, 2 * 6 + 2) and Image.open(p).mode == "RGB"
    q = save_scatter(torch.randn(100, 2), tmp_path / "s.png", reference=torch.randn(50, 2), size=64)
    assert np.asarray(Image.open(q)).min() < 255


def test_latent_pictures_shapes_and_endpoints():
    info = dgm.data.load("mnist-10k").info
    vae = create("vae", info, hidden=(8,), latent_dim=2).eval()
    za, zb = torch.randn(3, 2), torch.randn(3, 2)
    imgs = interpolate(vae, za, zb, steps=4)
    assert imgs.shape == (12, 1, 28, 28)
    torch.testing.assert_close(imgs[3], vae.decode(zb[:1])[0])
    assert traverse(vae, torch.zeros(2), steps=5).shape == (10, 1, 28, 28)
    assert manifold(vae, n=6).shape == (36, 1, 28, 28)
    s = slerp(za, zb, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(s[:, 0], za)
    torch.testing.assert_close(s[:, 1], zb)


def test_nearest_neighbours_match_brute_force():
    from dgm.viz.neighbours import nearest_neighbours, neighbour_grid

    g = torch.Generator().manual_seed(0)
    q, pool = torch.randn(7, 5, generator=g), torch.randn(300, 5, generator=g)
    d, i = nearest_neighbours(q, pool, k=3, chunk=64)
    bd, bi = torch.cdist(q, pool).topk(3, dim=1, largest=False)
    torch.testing.assert_close(d, bd)
    assert torch.equal(i, bi)
    train = torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8)
    images, dist = neighbour_grid(train[:2].float() / 255, train, k=2)
    assert images.shape == (6, 1, 4, 4) and dist[:, 0].abs().max() < 1e-2  # a copy is its own neighbour (cdist via matmul: ~1e-3 error)


def test_neighbours_of_binary_and_per_batch_data():
    """Binary data (values 0/1) is compared and drawn on its own scale, and a dataset made per batch (dSprites)
    is searched a chunk at a time, never materialised whole."""
    from dgm.data.lazy import LazyImages
    from dgm.viz.neighbours import neighbour_grid

    g = torch.Generator().manual_seed(1)
    binary = (torch.rand(40, 1, 4, 4, generator=g) < 0.5).to(torch.uint8)
    made = []

    def make(rows):
        made.append(len(rows))
        return binary[rows]

    lazy = LazyImages(make, 40, (1, 4, 4), key="test")
    images, dist = neighbour_grid(binary[[3, 7]].float(), lazy, k=1, kind="binary")
    assert dist[:, 0].abs().max() < 1e-2  # each query finds its own copy
    assert torch.equal(images[1], binary[3].float()) and torch.equal(images[3], binary[7].float())
    from dgm.viz.neighbours import _UnitRows, nearest_neighbours

    made.clear()
    nearest_neighbours(binary[:2].flatten(1).float(), _UnitRows(lazy, "binary"), k=1, chunk=16)
    assert made[:3] == [16, 16, 8]  # three batches of the pool, never all 40 at once
