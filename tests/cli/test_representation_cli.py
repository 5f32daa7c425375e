"""Representation learning through the CLI: `dgm data info dsprites-gen`, a FactorVAE trained on it, `dgm eval
--metrics disentanglement` (the whole factor grid, the dataset's only split), a traversal that names its factors,
an adversarial autoencoder's 2-D codes as a scatter coloured by class, and a StyleALAE's reconstructions scored
(`dgm eval --reconstructions`) and drawn (`dgm viz RUN reconstructions`)."""
import json

import pytest

from dgm.cli.main import main

TINY = ["--set", "model.hidden=[16]", "--set", "model.latent_dim=3", "--set", "model.tc_hidden=8",
        "--set", "model.tc_layers=1", "--no-progress", "--batch-size", "16", "--steps", "3"]


def dgm(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def factor_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "fvae"
    assert dgm("train", "factor-vae", "--data", "dsprites-gen", "--out", run, *TINY) == 0
    return run


def test_data_info_names_the_factors(capsys):
    assert dgm("data", "info", "dsprites-gen") == 0
    out = capsys.readouterr().out
    assert "737280 x (1, 64, 64) binary" in out and "orientation (40)" in out and "spread images" in out


def test_eval_disentanglement_on_the_whole_grid(factor_run, capsys):
    assert dgm("eval", factor_run, "--metrics", "disentanglement", "--factor-samples", "0.02", "--json") == 0
    record = json.loads(capsys.readouterr().out)
    assert record["split"] == "train"  # dSprites has no test split: its only one
    d = record["metrics"]["disentanglement"]
    assert set(d) >= {"beta_vae", "factor_vae", "mig", "dci", "protocol"}
    assert 0.0 <= d["factor_vae"]["eval_accuracy"] <= 1.0 and 0.0 <= d["mig"]["mig"] <= 1.0
    assert d["protocol"]["factors"] == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    assert dgm("eval", factor_run, "--metrics", "disentanglement", "--factor-samples", "0.02") == 0
    table = capsys.readouterr().out
    assert "FactorVAE metric" in table and "MIG" in table and "DCI disentanglement" in table


def test_disentanglement_needs_factors(tmp_path, capsys):
    run = tmp_path / "vae"
    assert dgm("train", "vae", "--out", run, "--set", "model.hidden=[8]", "--set", "model.latent_dim=2",
               "--no-progress", "--steps", "2") == 0
    capsys.readouterr()
    assert dgm("eval", run, "--metrics", "disentanglement") == 2
    assert "ground-truth factors" in capsys.readouterr().err


def test_traversal_rows_sorted_by_kl_and_named(factor_run, tmp_path, capsys):
    assert dgm("viz", factor_run, "traverse", "--out", tmp_path / "t.png", "--rows", 3, "--steps", 4) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("row ")]
    assert len(lines) == 3 and all("captures" in ln and "KL" in ln for ln in lines)
    kls = [float(ln.split("KL ")[1].split(" nats")[0]) for ln in lines]
    assert kls == sorted(kls, reverse=True)
    assert (tmp_path / "t.png").is_file()


def test_latent_scatter_of_an_adversarial_autoencoder(tmp_path, capsys):
    run = tmp_path / "aae"
    assert dgm("train", "aae-mixture", "--out", run, "--set", "model.hidden=[16]", "--set", "model.disc_hidden=[8]",
               "--set", "model.prior_labels=true", "--no-progress", "--steps", "3", "--batch-size", "20") == 0
    capsys.readouterr()
    assert dgm("viz", run, "latent-scatter", "--out", tmp_path / "codes.png") == 0
    out = capsys.readouterr().out
    assert "scatter of 1000 codes" in out and "95% highest-density region" in out
    from PIL import Image
    img = Image.open(tmp_path / "codes.png").convert("RGB")
    colours = {c for _, c in img.getcolors(1 << 20)}
    assert len(colours) >= 10  # every class has its colour (and the legend)
    gan = tmp_path / "gan"
    assert dgm("train", "dcgan", "--out", gan, "--set", "model.channels=8", "--set", "model.latent_dim=8",
               "--no-progress", "--steps", "1", "--batch-size", "16") == 0
    capsys.readouterr()
    assert dgm("viz", gan, "latent-scatter", "--out", tmp_path / "g.png") == 2
    assert "no encoder" in capsys.readouterr().err


def test_semi_supervised_aae_trains_on_its_labels_and_reports_test_error(tmp_path, capsys):
    run = tmp_path / "semi"
    assert dgm("train", "aae-semi", "--out", run, "--set", "model.labels_per_class=5", "--set", "model.hidden=[16]",
               "--set", "model.disc_hidden=[8]", "--set", "model.label_seed=4", "--no-progress", "--steps", "4",
               "--batch-size", "20", "--set", "train.eval_every=2") == 0
    curve = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    curve = [r for r in curve if "val/error" in r]  # validated by classification error on held-out labels
    assert [r["step"] for r in curve] == [2, 4] and all(0 <= r["val/error"] <= 1 for r in curve)
    assert curve[0]["val/kind"] == "classification" and curve[0]["val/split"] == "valid-carved"
    import yaml
    recorded = yaml.safe_load((run / "config.yaml").read_text())["labelled_subset"]
    assert recorded["label_seed"] == 4 and recorded["labelled"] == 50
    capsys.readouterr()
    assert dgm("eval", run, "--metrics", "accuracy", "--json") == 0
    c = json.loads(capsys.readouterr().out)["metrics"]["classification"]
    assert c["n"] == 1000 and c["split"] == "test" and abs(c["error"] + c["accuracy"] - 1) < 1e-12


def test_style_alae_trains_and_eval_scores_its_reconstructions(tmp_path, capsys):
    run = tmp_path / "alae"
    assert dgm("train", "alae-style", "--out", run, "--set", "model.channels=[8,4]", "--set", "model.latent_dim=4",
               "--set", "model.w_dim=4", "--set", "model.mapping_hidden=[8]", "--set", "model.disc_hidden=[8]",
               "--no-progress", "--steps", "2", "--batch-size", "16") == 0
    capsys.readouterr()
    assert dgm("eval", run, "--metrics", "fid,recon", "-n", "50", "--reconstructions", "--json") == 0
    m = json.loads(capsys.readouterr().out)["metrics"]
    q, r = m["quality_reconstructions"], m["quality"]
    assert q["protocol"]["samples"] == "reconstructions of the first 50 test images" and q["protocol"]["n_samples"] == 50
    assert q["fid"] > 0 and q["fid"] != r["fid"] and m["reconstruction"]["n"] == 50
    assert dgm("eval", run, "--metrics", "fid,recon", "-n", "50", "--reconstructions") == 0
    assert "FID (recon.)" in capsys.readouterr().out
    assert dgm("eval", run, "--metrics", "recon", "--reconstructions") == 2
    assert "ask for one (e.g. --metrics fid)" in capsys.readouterr().err
    gan = tmp_path / "gan"
    assert dgm("train", "dcgan", "--out", gan, "--set", "model.channels=8", "--set", "model.latent_dim=8",
               "--no-progress", "--steps", "1", "--batch-size", "16") == 0
    capsys.readouterr()
    assert dgm("eval", gan, "--metrics", "fid", "-n", "20", "--reconstructions") == 2
    assert "needs a run of a model that reconstructs" in capsys.readouterr().err
    assert dgm("viz", run, "reconstructions", "--rows", "2", "--steps", "5", "--out", tmp_path / "r.png") == 0
    assert "2 rows of 5 test images" in capsys.readouterr().out
    from PIL import Image
    # 28-pixel images, 2-pixel padding, upscaled twice
    assert Image.open(tmp_path / "r.png").size == (2 * (5 * 30 + 2), 2 * (4 * 30 + 2))
    assert dgm("viz", gan, "reconstructions", "--out", tmp_path / "g.png") == 2
    assert "does not reconstruct" in capsys.readouterr().err
