"""Perceptual path length: zero for a generator that ignores its latents, larger for a rougher one, the pair
protocol (same noise, eps) against a direct computation, and its wiring into `dgm eval --metrics ppl`."""
import dataclasses

import pytest
import torch

from dgm.errors import ConfigError
from dgm.metrics.features import FeatureNet
from dgm.metrics.path_length import path_length_distances, perceptual_path_length, slerp_rows
from dgm.models.gan.latents import Latents

FLAT = FeatureNet("flat", None, lambda x: (x.flatten(1), x.flatten(1)[:, :2]))


class Toy:
    """A latent generator: images sigmoid(roughness * z A) (B, 1, 4, 4), or a constant when roughness is 0."""

    categories, style_based = 0, False

    def __init__(self, roughness: float):
        self.roughness = roughness
        self.a = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))

    def draw(self, n, labels=None, generator=None):
        return Latents(torch.randn(n, 8, generator=generator))

    def render(self, lat, noise_seed=0):
        return torch.sigmoid(self.roughness * lat.z @ self.a + 0.5).view(-1, 1, 4, 4)


def test_a_generator_that_ignores_its_latents_has_zero_path_length():
    assert perceptual_path_length(Toy(0.0), FLAT, 200)["value"] == 0.0


def test_path_length_grows_with_roughness():
    values = [perceptual_path_length(Toy(r), FLAT, 400, eps=1e-3)["value"] for r in (0.5, 1.0, 4.0)]
    assert 0 < values[0] < values[1] < values[2]


def test_pair_values_match_a_direct_computation():
    toy, eps = Toy(1.0), 1e-3
    got = path_length_distances(toy, FLAT, 5, eps=eps, batch_size=5, seed=3)
    g = torch.Generator().manual_seed(3)  # the metric's draws, repeated
    one, two = toy.draw(5, generator=g), toy.draw(5, generator=g)
    t = torch.rand(5, 1, generator=g)
    x0, x1 = (toy.render(dataclasses.replace(one, z=slerp_rows(one.z, two.z, u))).flatten(1) for u in (t, t + eps))
    unit = lambda f: f / f.norm(dim=1, keepdim=True)  # noqa: E731
    torch.testing.assert_close(got, (unit(x0) - unit(x1)).pow(2).sum(1) / eps ** 2, rtol=1e-3, atol=1e-3)


def test_slerp_rows_keeps_the_norm_of_unit_vectors_and_hits_the_ends():
    a, b = torch.nn.functional.normalize(torch.randn(3, 5), dim=1), torch.nn.functional.normalize(torch.randn(3, 5), dim=1)
    torch.testing.assert_close(slerp_rows(a, b, torch.zeros(3, 1)), a)
    torch.testing.assert_close(slerp_rows(a, b, torch.ones(3, 1)), b)
    torch.testing.assert_close(slerp_rows(a, b, torch.full((3, 1), 0.3)).norm(dim=1), torch.ones(3))


def test_w_space_needs_a_style_based_generator():
    with pytest.raises(ConfigError, match="needs a style-based generator"):
        perceptual_path_length(Toy(1.0), FLAT, 10, space="w")


def test_ppl_through_dgm_eval(tmp_path, capsys):
    import json

    from dgm.cli.main import main

    run = tmp_path / "run"
    assert main(["train", "stylegan2", "--steps", "2", "--out", str(run), "--data", "mnist-10k", "--batch-size", "8",
                 "--set", "model.networks.channels=8", "--set", "model.latent_dim=8", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "ppl", "-n", "50", "--json"]) == 0
    ppl = json.loads(capsys.readouterr().out)["metrics"]["ppl"]
    assert set(ppl) == {"z", "w"} and all(r["value"] > 0 and r["pairs"] == 50 for r in ppl.values())
    assert main(["eval", str(run), "--metrics", "ppl", "-n", "50"]) == 0
    assert "PPL (W)" in capsys.readouterr().out
