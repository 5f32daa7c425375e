"""Priors over codes (the two-stage workflow): brute-force normalisation over every code sequence, causality of
each level's factor, the bottom level conditioned on the top, cached and naive samplers drawing the same codes,
the cached code dataset keyed by the autoencoder's checkpoint, and the whole workflow through the command line,
including the refusal to load a prior whose autoencoder changed."""
import itertools
import json
import math

import pytest
import torch

import dgm.codes
from dgm.cli.main import main
from dgm.data.dataset import DatasetInfo
from dgm.errors import ConfigError
from dgm.models import Batch, create
from dgm.models.autoregressive.sequence_sampling import cached_sequence_sample, naive_sequence_sample

PRIORS = ["transformer", "gated-pixelcnn"]


def _info(levels, k, classes=0):
    length = sum(h * w for h, w in levels)
    return DatasetInfo(name="codes:test", split="train", shape=(length,), num_classes=classes, kind="codes",
                       codes={"autoencoder": "-", "sha256": "-", "num_codes": k, "levels": [list(s) for s in levels],
                              "model": "vqvae", "dataset": "mnist-10k"})


def _prior(prior, levels=((1, 3),), k=4, classes=0, **kw):
    torch.manual_seed(0)
    values = {"width": 8, "layers": 2, "heads": 2, "dropout": 0.0, "class_conditional": bool(classes), **kw}
    model = create("code-prior", _info(levels, k, classes), prior=prior, **values).eval()
    with torch.no_grad():  # away from uniform logits, so that a wrong factorisation shows
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return model


def _all_sequences(length, k):
    return torch.tensor(list(itertools.product(range(k), repeat=length)))


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("levels,k", [(((1, 3),), 4), (((1, 1), (1, 2)), 3)])
def test_probabilities_of_every_code_sequence_sum_to_one(prior, levels, k):
    model = _prior(prior, levels, k)
    seqs = _all_sequences(sum(h * w for h, w in levels), k)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(seqs).double(), 0).exp()
    assert abs(float(total) - 1.0) < 1e-5


@pytest.mark.parametrize("prior", PRIORS)
def test_a_class_conditional_prior_normalises_per_class_and_the_class_matters(prior):
    model = _prior(prior, ((1, 3),), 3, classes=2)
    seqs = _all_sequences(3, 3)
    with torch.no_grad():
        per_class = [model.log_prob(seqs, torch.full((len(seqs),), c)) for c in (0, 1)]
        marginal = model.log_prob(seqs)
    for lp in per_class:
        assert abs(float(torch.logsumexp(lp.double(), 0).exp()) - 1.0) < 1e-5
    assert not torch.allclose(per_class[0], per_class[1])
    assert torch.allclose(marginal, torch.logsumexp(torch.stack(per_class), 0) - math.log(2), atol=1e-5)


@pytest.mark.parametrize("prior", PRIORS)
def test_each_code_depends_on_earlier_codes_only_and_the_bottom_on_every_top_code(prior):
    levels = ((4, 4), (8, 8))  # top 4x4 (16 codes), bottom 8x8 (64): wider than a few local convolutions reach
    model = _prior(prior, levels, 5)
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(5, (2, 80), generator=g)
    with torch.no_grad():
        base = [model.level_logits(codes, j) for j in (0, 1)]
        for level, (start, end) in enumerate(zip(model.starts, model.ends)):
            for t in range(start, end):
                changed = codes.clone()
                changed[:, t:end] = (changed[:, t:end] + 1) % 5  # this code and the later ones of its level
                out = model.level_logits(changed, level)
                assert torch.allclose(out[:, :t - start + 1], base[level][:, :t - start + 1], atol=1e-5)
        changed = codes.clone()
        changed[:, 15] = (changed[:, 15] + 1) % 5  # the last top code: every bottom code may see it
        assert not torch.allclose(model.level_logits(changed, 1)[:, 0], base[1][:, 0])


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("classes", [0, 3])
def test_cached_and_naive_samplers_draw_the_same_codes_on_both_levels(prior, classes):
    """The transformer's key/value cache and the gated PixelCNN's stack caches (with the top codes' map and the
    class vector as conditioning) against a full pass per code."""
    model = _prior(prior, ((2, 2), (4, 4)), 6, classes)
    a = model.sample_codes(5, generator=torch.Generator().manual_seed(3), sampler="cached")
    b = model.sample_codes(5, generator=torch.Generator().manual_seed(3), sampler="naive")
    assert a.shape == (5, 20) and torch.equal(a, b)
    assert len(a.unique()) > 2  # the draws are not degenerate
    cool = model.sample_codes(5, generator=torch.Generator().manual_seed(3), sampler="cached", temperature=0.5)
    assert torch.equal(cool, model.sample_codes(5, generator=torch.Generator().manual_seed(3), sampler="naive",
                                                temperature=0.5))
    assert not torch.equal(cool, a)  # the temperature reaches the cached draws


def test_transformer_bottom_codes_are_drawn_given_the_top_codes():
    model = _prior("transformer", ((2, 2), (4, 4)), 6)
    a = model.sample_codes(5, generator=torch.Generator().manual_seed(3), sampler="cached")
    net = model.nets[1]
    # the bottom codes are drawn given the sampled top codes (the same uniforms, the top read as known)
    u, prefix = torch.rand(5, 20, generator=torch.Generator().manual_seed(3)), torch.zeros(5, dtype=torch.long)
    assert torch.equal(a[:, 4:], naive_sequence_sample(net, prefix, u, known=a[:, :4])[:, 4:])
    u, prefix = torch.rand(5, 20, generator=torch.Generator().manual_seed(4)), torch.zeros(5, dtype=torch.long)
    known = a[:, :4]
    cached = cached_sequence_sample(net, prefix, u, known=known)
    assert torch.equal(cached[:, :4], known)
    assert torch.equal(cached, naive_sequence_sample(net, prefix, u, known=known))


def test_temperature_and_sampler_checks():
    pixel = _prior("gated-pixelcnn")
    with pytest.raises(ConfigError, match="not one of"):
        pixel.sample_codes(2, sampler="fast")
    assert pixel.sample_codes(2, sampler="auto", generator=torch.Generator().manual_seed(0)).shape == (2, 3)
    with pytest.raises(ConfigError, match="temperature"):
        pixel.sample_codes(2, temperature=0.0)
    with pytest.raises(ConfigError, match="no autoencoder"):
        pixel.sample(2)


def test_loss_is_the_mean_nll_and_reports_bits_per_code():
    model = _prior("transformer", k=4)
    codes = torch.randint(4, (6, 3))
    out = model.loss(Batch(codes))
    nll = -model.log_prob(codes).mean()
    assert torch.allclose(out["loss"], nll) and torch.allclose(out["bits_per_code"], nll / (3 * math.log(2)))


def test_the_prior_refuses_data_that_are_not_codes_and_a_mismatched_autoencoder(tiny_codes):
    with pytest.raises(ConfigError, match="--autoencoder"):
        create("code-prior", DatasetInfo(name="mnist", split="train", shape=(1, 28, 28)))
    model = _prior("transformer", ((7, 7),), 32)  # the tiny VQ-VAE has 16 codes
    ae = dgm.codes.load_autoencoder(tiny_codes.info.codes)
    with pytest.raises(ConfigError, match="16 on"):
        model.attach_autoencoder(ae)


def test_code_dataset_holds_the_autoencoders_codes_and_is_cached_by_its_checkpoint(tiny_codes, monkeypatch):
    info = tiny_codes.info
    assert info.kind == "codes" and info.shape == (49,) and tiny_codes.data.dtype == torch.int16
    ae = dgm.codes.load_autoencoder(info.codes)
    images = dgm.codes.image_reference(info, "train").subset(slice(0, 64))
    with torch.no_grad():
        expected = ae.encode(ae.prepare(images.data, train=False)).flatten(1)
    assert torch.equal(tiny_codes.data.long(), expected)
    assert torch.equal(tiny_codes.labels, images.labels)
    monkeypatch.setattr(dgm.codes, "encode_images", lambda *a: pytest.fail("the cache was not used"))
    again = dgm.codes.code_dataset(info.codes["autoencoder"], "train")
    assert torch.equal(again.data[:64], tiny_codes.data)


def _train_vqvae(out, seed):
    return main(["train", "vqvae", "--steps", "2", "--batch-size", "16", "--seed", str(seed), "--no-progress",
                 "--set", "model.hidden=8", "--set", "model.res_hidden=4", "--set", "model.code_dim=4",
                 "--set", "model.num_codes=16", "--out", str(out)])


def test_two_stage_workflow_through_the_cli_and_the_refusal_when_the_autoencoder_changed(tmp_path, capsys):
    ae, prior = tmp_path / "vqvae", tmp_path / "prior"
    assert _train_vqvae(ae, 0) == 0
    assert main(["train", "code-prior", "--steps", "3", "--no-progress"]) == 2
    assert "--autoencoder RUN_DIR" in capsys.readouterr().err
    assert main(["train", "vae", "--autoencoder", str(ae), "--steps", "3", "--no-progress"]) == 2
    assert "--autoencoder is for priors" in capsys.readouterr().err
    assert main(["train", "code-prior", "--autoencoder", str(ae), "--steps", "3", "--batch-size", "16",
                 "--set", "model.width=8", "--set", "model.layers=1", "--set", "train.eval_every=2",
                 "--set", "train.eval_n=50", "--no-progress", "--out", str(prior)]) == 0
    assert list((ae / "codes").glob("*-train.safetensors"))  # extracted once, next to the autoencoder
    capsys.readouterr()
    assert main(["sample", str(prior), "-n", "4", "--out", str(tmp_path / "s.npz")]) == 0
    import numpy as np

    assert np.load(tmp_path / "s.npz")["images"].shape == (4, 1, 28, 28)
    capsys.readouterr()
    assert main(["eval", str(prior), "--metrics", "nll,fid", "-n", "50", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    nll = record["metrics"]["nll"]
    assert nll["n"] == 50 and nll["kind"] == "exact"
    assert 0 < nll["bits_per_dim"] <= math.log2(16) + 0.5  # bits per code: about log2 K untrained
    assert record["metrics"]["quality"]["protocol"]["reference"] == "mnist-10k/test"
    # the autoencoder run trained again from scratch: same checkpoint name, other weights
    import shutil

    shutil.rmtree(ae)
    assert _train_vqvae(ae, 1) == 0
    capsys.readouterr()
    assert main(["sample", str(prior), "-n", "4", "--out", str(tmp_path / "t.png")]) == 4
    assert "changed since this prior was trained" in capsys.readouterr().err
    assert not (tmp_path / "t.png").exists()
