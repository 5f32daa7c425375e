"""Diffusion through the command line: train a tiny DDPM, its guidance classifier with `dgm train-classifier`,
then sample with a sampler, classifier guidance and a trajectory grid, and evaluate with a chosen sampler."""
import json

import numpy as np
import pytest
from PIL import Image

from dgm.cli.main import main

NET = ["--set", "model.channels=8", "--set", "model.channel_mult=[1,2]", "--set", "model.attention_levels=[1]",
       "--set", "model.heads=2", "--set", "model.blocks=1"]


def dgm(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion")
    run, cls = root / "ddpm", root / "classifier"
    assert dgm("train", "ddpm", "--steps", 3, "--batch-size", 8, "--set", "model.steps=20",
               "--set", "model.sample_steps=4", "--set", "train.ema_decay=null", "--set", "train.lr_warmup=0",
               "--set", "train.num_samples=4", "--no-progress", "--out", run, *NET) == 0
    assert dgm("train-classifier", run, "--steps", 3, "--batch-size", 8, "--no-progress", "--out", cls, *NET) == 0
    return run, cls


def test_train_classifier_writes_a_checkpoint_and_its_accuracy_by_noise_level(runs):
    _, cls = runs
    report = json.loads((cls / "eval.json").read_text())
    assert list(report["accuracy_by_t"]) == ["1", "5", "10", "15"] and report["split"] == "test"
    assert list((cls / "checkpoints").glob("step-3/model.safetensors"))
    assert dgm("train-classifier", runs[0], "--steps", 3, "--out", cls) == 2  # no silent overwrite


def test_sample_with_classifier_guidance_and_a_trajectory(runs, tmp_path, capsys):
    run, cls = runs
    assert dgm("sample", run, "-n", 4, "--out", tmp_path / "s.npz", "--classifier", cls, "--classifier-scale", 2,
               "--labels", "0,1", "--sampler", "ddpm", "--trajectory", tmp_path / "t.png") == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (4, 1, 28, 28) and list(f["labels"]) == [0, 1, 0, 1]
    assert "t = 20," in capsys.readouterr().out
    width, height = Image.open(tmp_path / "t.png").size
    assert width > height  # a row per sample (4), a column per frame (8)
    assert dgm("sample", run, "-n", 2, "--out", tmp_path / "x.png", "--classifier-scale", 2) == 2
    assert dgm("sample", run, "-n", 2, "--out", tmp_path / "x.png", "--classifier", run) == 2
    assert "not a guidance classifier" in capsys.readouterr().err


def test_eval_samples_with_the_chosen_sampler_and_records_it(runs, tmp_path, capsys):
    run, _ = runs
    assert dgm("eval", run, "--metrics", "classes", "-n", 10, "--sampler", "ddim", "--steps", 2, "--json") == 0
    record = json.loads(capsys.readouterr().out)
    assert record["metrics"]["quality"]["protocol"]["samples"] == "draws (ddim, 2 steps)"
    assert record["sample_s"] > 0
    np.savez(tmp_path / "s.npz", images=np.zeros((4, 1, 28, 28), np.uint8))
    assert dgm("eval", tmp_path / "s.npz", "--dataset", "mnist-10k", "--sampler", "ddim") == 2


def test_trajectory_is_refused_for_a_model_without_steps(tmp_path, capsys):
    run = tmp_path / "vae"
    assert dgm("train", "vae", "--steps", 2, "--batch-size", 8, "--set", "model.hidden=[8]", "--no-progress",
               "--out", run) == 0
    assert dgm("sample", run, "-n", 2, "--out", tmp_path / "s.png", "--trajectory", tmp_path / "t.png") == 2
    assert "diffusion models" in capsys.readouterr().err and not (tmp_path / "s.png").exists()


def test_eval_reports_label_agreement_of_guided_samples_and_of_a_labelled_npz(runs, tmp_path, capsys):
    run, cls = runs
    assert dgm("eval", run, "--metrics", "classes", "-n", 10, "--steps", 2, "--classifier", cls, "--labels", "all",
               "--json") == 0
    q = json.loads(capsys.readouterr().out)["metrics"]["quality"]
    assert 0 <= q["label_agreement"] <= 1 and "classifier guidance 1" in q["protocol"]["samples"]
    assert dgm("eval", run, "--metrics", "classes", "-n", 10, "--labels", "all") == 2  # nothing to guide by
    assert "needs a class-conditional model" in capsys.readouterr().err


def test_a_samples_file_with_labels_gets_its_label_agreement(tmp_path, capsys):
    from dgm.data import load

    test = load("mnist-10k", split="test")
    images, labels = test.data[:200].numpy(), test.labels[:200].numpy()
    np.savez(tmp_path / "real.npz", images=images, labels=labels)
    assert dgm("eval", tmp_path / "real.npz", "--dataset", "mnist-10k", "--metrics", "classes", "--json") == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["quality"]["label_agreement"] > 0.9
    np.savez(tmp_path / "wrong.npz", images=images, labels=(labels + 1) % 10)
    assert dgm("eval", tmp_path / "wrong.npz", "--dataset", "mnist-10k", "--metrics", "classes", "--json") == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["quality"]["label_agreement"] < 0.1
    np.savez(tmp_path / "bad.npz", images=images, labels=labels[:5])
    assert dgm("eval", tmp_path / "bad.npz", "--dataset", "mnist-10k", "--metrics", "classes") == 3


def test_eval_nll_of_a_diffusion_is_its_bound_in_full_or_stratified_and_auto_skips_it(runs, capsys):
    run, _ = runs
    assert dgm("eval", run, "--metrics", "nll", "-n", 3, "--bound-terms", 4, "--json") == 0
    nll = json.loads(capsys.readouterr().out)["metrics"]["nll"]
    assert nll["kind"] == "bound" and nll["n"] == 3 and "stratified" in nll["bound"] and nll["bits_per_dim"] > 0
    assert dgm("eval", run, "--metrics", "elbo", "-n", 2, "--json") == 0
    assert "every one of the 20 terms" in json.loads(capsys.readouterr().out)["metrics"]["elbo"]["bound"]
    assert dgm("eval", run, "--metrics", "iwae", "-n", 2) == 2
    assert dgm("eval", run, "-n", 10, "--steps", 2, "--json") == 0  # auto: sample quality, not T passes per image
    assert set(json.loads(capsys.readouterr().out)["metrics"]) == {"quality"}
