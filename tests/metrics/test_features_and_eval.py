"""Feature networks, the reference-feature cache, and `dgm eval` / `dgm compare` on quality metrics."""
import json

import numpy as np
import pytest
import torch

import dgm.data
from dgm.cli.main import main
from dgm.errors import DgmError
from dgm.metrics.evaluate import quality_record
from dgm.metrics.features import ASSETS, SmallCNN, load_feature_net
from dgm.metrics.quality import reference_features

needs_weights = pytest.mark.skipif(not (ASSETS / "mnist-cnn.safetensors").is_file(),
                                   reason="bundled mnist-cnn weights not built")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DGM_CACHE_DIR", str(tmp_path / "cache"))


def test_small_cnn_shapes():
    f, p = SmallCNN().eval().features(torch.rand(3, 1, 28, 28))
    assert f.shape == (3, 128) and p.shape == (3, 10)
    torch.testing.assert_close(p.sum(1), torch.ones(3))


def test_inception_without_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv("DGM_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(DgmError, match="Inception-v3 FID weights are not available locally"):
        load_feature_net("inception-v3")


@needs_weights
def test_bundled_classifier_is_accurate_on_bundled_digits():
    net = load_feature_net("mnist-cnn")
    test = dgm.data.load("mnist-10k", split="test")
    _, probs = net(test.data)
    assert (probs.argmax(1) == test.labels).float().mean() > 0.98


@needs_weights
def test_images_padded_to_32_are_scored_as_the_originals():
    """MNIST zero-padded to 32x32 (data.size=32) is centre-cropped back for the 28x28 feature network; images
    more than 8 pixels off are refused."""
    from dgm.data.transforms import pad_to

    net = load_feature_net("mnist-cnn")
    x = dgm.data.load("mnist-10k").data[:16]
    f, p = net(x)
    f32, p32 = net(pad_to(x, 32))
    torch.testing.assert_close(f32, f)
    torch.testing.assert_close(p32, p)
    with pytest.raises(DgmError, match="expects images of shape"):
        net(pad_to(x, 40))


def test_reference_features_are_cached_by_checksum(tmp_path):
    net = load_feature_net("mnist-cnn")
    data = dgm.data.load("mnist-10k", split="test").subset(slice(0, 200))
    f1, _ = reference_features(net, data)
    files = list((tmp_path / "cache" / "features").iterdir())
    assert len(files) == 1 and data.checksum()[:0] == ""
    f2, _ = reference_features(net, data)
    assert torch.equal(f1, f2)
    other = data.subset(slice(0, 100))
    reference_features(net, other)
    assert len(list((tmp_path / "cache" / "features").iterdir())) == 2  # different data, different key


@needs_weights
def test_quality_record_real_vs_noise():
    net = load_feature_net("mnist-cnn")
    data = dgm.data.load("mnist-10k")
    real = quality_record(data.data[:1000], dgm.data.load("mnist-10k", split="test"), net,
                          ["fid", "is", "pr", "classes"])
    noise = quality_record(torch.randint(0, 256, (1000, 1, 28, 28), dtype=torch.uint8),
                           dgm.data.load("mnist-10k", split="test"), net, ["fid", "is", "pr", "classes"])
    assert real["fid"] < noise["fid"] and real["is"]["is_mean"] > 8 and real["classes"]["modes_covered"] == 10
    assert real["protocol"] == {**real["protocol"], "feature_net": "mnist-cnn", "n_samples": 1000,
                                "reference": "mnist-10k/test", "n_reference": 1000}


@needs_weights
def test_eval_npz_and_compare(tmp_path, capsys):
    images = dgm.data.load("mnist-10k").data[:500].numpy()
    np.savez(tmp_path / "s.npz", images=images)
    assert main(["eval", str(tmp_path / "s.npz"), "--dataset", "mnist-10k", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    q = rec["metrics"]["quality"]
    assert {"fid", "kid", "is", "pr", "classes"} <= set(q) and q["protocol"]["feature_net"] == "mnist-cnn"
    run = tmp_path / "run"
    assert main(["train", "vae", "--steps", "10", "--out", str(run), "--no-progress",
                 "--set", "model.hidden=[16]"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "-n", "200", "--k", "5", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert {"elbo", "iwae_5", "active_units", "quality"} <= set(rec["metrics"])
    assert main(["compare", str(run), str(run), "--csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("run,model,dataset") and "FID" in out[0] and len(out) == 3


def test_eval_npz_errors(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 28, 28), dtype=np.float32))
    assert main(["eval", str(tmp_path / "bad.npz"), "--dataset", "mnist-10k"]) == 3
    assert "uint8 (N, C, H, W)" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "bad.npz")]) == 2
    assert main(["compare", str(tmp_path)]) == 2
