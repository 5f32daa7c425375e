"""The dgm command as a user meets it: help, train -> sample -> eval -> viz, exact resume, clear errors.

Most calls run ``dgm.cli.main.main`` in-process (fast); a few run the installed entry point in a
subprocess to check real exit codes and the absence of tracebacks."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dgm.cli.main import main

TINY = ["--set", "model.hidden=[32]", "--set", "model.latent_dim=2", "--no-progress", "--batch-size", "32"]
SRC = str(Path(__file__).resolve().parents[2] / "src")


def dgm(*args: str) -> int:
    return main([str(a) for a in args])


def run_dgm(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "dgm", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "vae"
    assert dgm("train", "vae", "--steps", 40, "--out", run, *TINY) == 0
    return run


def test_help_everywhere(capsys):
    for cmd in ([], ["train"], ["sample"], ["eval"], ["viz"], ["list"], ["data"]):
        assert main(cmd + ["--help"]) == 0
    assert "Exit codes" in capsys.readouterr().out
    assert main(["train", "vae", "--no-such-flag"]) == 2 and "unrecognized" in capsys.readouterr().err


def test_train_writes_a_complete_run(trained):
    assert (trained / "config.yaml").is_file()
    assert (trained / "samples" / "final.png").is_file()
    lines = (trained / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 40
    ck = trained / "checkpoints" / "step-40"
    assert {p.name for p in ck.iterdir()} >= {"model.safetensors", "config.json", "manifest.json",
                                             "train_state.safetensors", "train_state.json"}
    assert not list(trained.rglob("*.pkl")) and not list(trained.rglob("*.pt"))


def test_sample_npz_and_png(trained, tmp_path):
    assert dgm("sample", trained, "-n", 10, "--out", tmp_path / "s.npz", "--seed", 3) == 0
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.dtype == np.uint8 and images.shape == (10, 1, 28, 28)
    assert dgm("sample", trained, "-n", 10, "--out", tmp_path / "t.npz", "--seed", 3) == 0
    assert np.array_equal(images, np.load(tmp_path / "t.npz")["images"])  # seeded
    assert dgm("sample", trained, "-n", 9, "--out", tmp_path / "s.png", "--temperature", 0.7) == 0
    assert (tmp_path / "s.png").stat().st_size > 0


def test_eval_json(trained, capsys):
    capsys.readouterr()
    assert dgm("eval", trained, "--json", "-n", 40, "--k", 20, "--metrics", "elbo,iwae,au") == 0
    record = json.loads(capsys.readouterr().out)
    m = record["metrics"]
    assert set(m) == {"elbo", "iwae_20", "active_units"}
    assert m["iwae_20"]["nll_nats"] <= m["elbo"]["nll_nats"] + 1.0  # IWAE-20 is the tighter bound
    assert m["elbo"]["bits_per_dim"] == pytest.approx(m["elbo"]["nll_nats"] / (784 * np.log(2)))
    assert 0 <= m["active_units"]["count"] <= 2
    assert json.loads((trained / "eval" / "metrics.json").read_text())["n_test"] == 40


def test_viz(trained, tmp_path):
    for kind in ("interpolate", "traverse", "manifold"):
        assert dgm("viz", trained, kind, "--out", tmp_path / f"{kind}.png", "--rows", 2, "--steps", 5) == 0
        assert (tmp_path / f"{kind}.png").is_file()


def test_resume_is_bit_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--seed", 7, *TINY]
    assert dgm("train", "vae", "--steps", 24, "--out", a, *args) == 0
    assert dgm("train", "vae", "--steps", 11, "--out", b, *args) == 0  # 11: mid-epoch of the 9k images
    assert dgm("train", "vae", "--steps", 24, "--resume", b, "--no-progress") == 0
    wa = load_file(str(a / "checkpoints" / "step-24" / "model.safetensors"))
    wb = load_file(str(b / "checkpoints" / "step-24" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    sa = load_file(str(a / "checkpoints" / "step-24" / "train_state.safetensors"))
    sb = load_file(str(b / "checkpoints" / "step-24" / "train_state.safetensors"))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_refuses_architecture_change(trained, capsys):
    assert dgm("train", "vae", "--steps", 50, "--resume", trained, "--set", "model.latent_dim=8") == 2
    err = capsys.readouterr().err
    assert "config mismatch: latent_dim 2 (checkpoint) != 8 (requested)" in err


def test_resume_warns_on_training_change(tmp_path, caplog):
    run = tmp_path / "r"
    assert dgm("train", "vae", "--steps", 5, "--out", run, *TINY) == 0
    assert dgm("train", "vae", "--steps", 8, "--resume", run, "--lr", "0.0005", "--no-progress") == 0
    assert "lr 0.001 -> 0.0005" in caplog.text
    assert (run / "checkpoints" / "step-8").is_dir()


def test_existing_run_needs_resume(trained, capsys):
    assert dgm("train", "vae", "--steps", 5, "--out", trained, *TINY) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize("args,code,needle", [
    (["train", "vea"], 2, "did you mean 'vae'"),
    (["train", "vae", "--set", "model.latent_dim=-3"], 2, "latent_dim must be > 0"),
    (["train", "vae", "--set", "model.latnt_dim=3"], 2, "did you mean 'latent_dim'"),
    (["train", "vae", "--data", "mnst"], 2, "did you mean 'mnist'"),
    (["train", "vae", "--data", "folder:/nonexistent/dir"], 3, "folder not found"),
    (["sample", "/nonexistent/run", "--out", "x.png"], 4, "checkpoint not found"),
    (["sample", "/nonexistent/run", "--out", "x.jpg"], 2, ".png or .npz"),
    (["eval", "/nonexistent/run"], 4, "checkpoint not found"),
])
def test_errors_are_one_clear_line(args, code, needle, capsys):
    assert dgm(*args) == code
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_subprocess_exit_codes_and_no_traceback(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_dgm("train", "vae", "--data", f"folder:{empty}")
    assert r.returncode == 3 and "no images found" in r.stderr and "Traceback" not in r.stderr
    r = run_dgm("list", "models")
    assert r.returncode == 0 and "vae" in r.stdout


def test_data_info(capsys):
    assert dgm("data", "info", "mnist-10k") == 0
    out = capsys.readouterr().out
    assert "mnist-10k [train] 9000" in out and "mnist-10k [test] 1000" in out


def test_yaml_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  latent_dim: 3\n  hidden: [16]\ntrain:\n  steps: 4\n  batch_size: 16\n")
    run = tmp_path / "y"
    assert dgm("train", "vae", "--config", cfg, "--out", run, "--no-progress") == 0
    saved = json.loads((run / "checkpoints" / "step-4" / "config.json").read_text())
    assert saved["model_config"]["latent_dim"] == 3 and saved["train"]["batch_size"] == 16
    bad = tmp_path / "bad.yaml"
    bad.write_text("modle: {}\n")
    assert dgm("train", "vae", "--config", bad) == 2


def test_out_of_memory_is_one_line_with_advice(tmp_path, monkeypatch, capsys):
    from dgm.models.vae import VAE

    def boom(self, batch, group="main"):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(VAE, "loss", boom)
    assert dgm("train", "vae", "--steps", 5, "--out", tmp_path / "oom", *TINY) == 1
    err = capsys.readouterr().err.strip()
    assert "out of memory" in err and "--batch-size" in err and "peak" in err and len(err.splitlines()) == 1


def test_deterministic_flag(tmp_path):
    try:
        assert dgm("train", "vae", "--steps", 3, "--out", tmp_path / "d", "--deterministic", *TINY) == 0
    finally:
        torch.use_deterministic_algorithms(False)
