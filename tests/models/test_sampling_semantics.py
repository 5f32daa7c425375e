"""What `sample` returns, said out loud: every model's options are its signature's (a typo is an error, not
ignored), VAEs and autoencoders show decoder means by default (as their papers do) or draws on request, and
evaluation records which of the two it scored."""
import json

import pytest
import torch

import dgm.data
from dgm.cli.main import main
from dgm.errors import ConfigError
from dgm.models import create, models
from dgm.models.base import check_sample_options, contract_settings, sample_options
from dgm.runs import sample_images


@pytest.fixture(scope="module")
def images():
    return dgm.data.load("mnist-10k").subset(slice(0, 64))


@pytest.mark.parametrize("name", models.names())
def test_every_model_declares_its_sample_options(name, images, request):
    kind = contract_settings(models.get(name).cls)["data"]
    data = {"codes": lambda: request.getfixturevalue("tiny_codes"), "points": lambda: dgm.data.load("ring8"),
            "images": lambda: images}[kind]()
    model = create(name, data.info, **models.get(name).cls.tiny)
    known = sample_options(model)
    assert "temprature" not in known
    check_sample_options(model, {k: None for k in known})
    with pytest.raises(ConfigError, match="has no option 'temprature'"):
        check_sample_options(model, {"temprature": 0.5})


@pytest.mark.parametrize("name", ["vae", "ae"])
def test_latent_models_show_means_or_draws(name, images):
    model = create(name, images.info, hidden=(16,), latent_dim=3).eval()  # Bernoulli decoder (binarised MNIST)
    means = sample_images(model, 8, seed=1)
    draws = sample_images(model, 8, seed=1, mean=False)
    again = sample_images(model, 8, seed=1, mean=False)
    assert torch.equal(draws, again) and set(draws.unique().tolist()) <= {0.0, 1.0}
    assert not set(means.unique().tolist()) <= {0.0, 1.0}
    assert model.sample_semantics({}) == "decoder means" and model.sample_semantics({"mean": False}) == "draws"


def test_gaussian_decoder_draws_add_the_decoder_noise(images):
    model = create("vae", images.info, hidden=(16,), latent_dim=3, likelihood="gaussian", gaussian_std=0.2).eval()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    means = model.sample(500, generator=g())
    draws = model.sample(500, generator=g(), mean=False)
    residual = (draws - means)[(means > 0.3) & (means < 0.7)]  # away from the clamp at 0 and 1
    assert abs(residual.std().item() - 0.2) < 0.01


def test_cli_rejects_an_option_the_model_lacks_and_records_semantics(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "vae", "--steps", "3", "--set", "model.hidden=[16]", "--out", str(run),
                 "--no-progress"]) == 0
    assert main(["sample", str(run), "-n", "4", "--truncation", "0.5", "--out", str(tmp_path / "s.png")]) == 2
    assert "no option 'truncation'" in capsys.readouterr().err
    assert main(["sample", str(run), "-n", "4", "--no-mean", "--out", str(tmp_path / "s.npz")]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "fid", "-n", "100", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["metrics"]["quality"]["protocol"]["samples"] == "decoder means"


def test_auto_metrics_say_why_fid_is_missing(tmp_path, capsys, monkeypatch):
    from dgm.cli import eval_cmd
    from dgm.errors import DataError

    run = tmp_path / "run"
    assert main(["train", "vae", "--steps", "2", "--set", "model.hidden=[16]", "--out", str(run),
                 "--no-progress"]) == 0

    def missing(name):
        raise DataError(f"feature network {name} weights not found; run `dgm data fetch {name}`")

    monkeypatch.setattr(eval_cmd, "load_feature_net", missing)
    capsys.readouterr()
    assert main(["eval", str(run), "-n", "20", "--k", "2", "--json"]) == 0
    out = capsys.readouterr()
    record = json.loads(out.out.strip().splitlines()[-1])
    assert "quality" not in record["metrics"] and "weights not found" in record["quality_skipped"]
    assert "warning" in out.err and "skipped" in out.err
