"""A run directory belongs to one process (an advisory lock named in a clear error, released even by a killed
holder), resuming from an older step continues the run without writing into the committed step, a run killed
during its first save restarts, `--resume auto`, and checkpoints holding NaN/Inf are refused at load."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from dgm.cli.main import main
from dgm.data.download import sha256_of
from dgm.errors import ConfigError
from dgm.train.run_lock import RunLock

TINY = ["--set", "model.hidden=[16]", "--set", "model.latent_dim=2", "--no-progress"]


def train(out, *extra):
    return main(["train", "vae", "--out", str(out), *TINY, *extra])


def tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): sha256_of(p) for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_locked_run_directory_refuses_a_second_training(tmp_path, capsys):
    run = tmp_path / "same"
    with RunLock(run):
        assert train(run, "--steps", "2") == 2
        assert f"is in use by process {os.getpid()}" in capsys.readouterr().err
        with pytest.raises(ConfigError, match="in use"):
            RunLock(run).acquire()
    assert train(run, "--steps", "2") == 0  # released on exit
    with RunLock(run):
        assert main(["train", "vae", "--resume", str(run), "--steps", "4", "--no-progress"]) == 2
    assert not (run / "checkpoints" / "step-4").exists()


def test_the_lock_of_a_killed_process_is_stale(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dgm.train.run_lock import RunLock; "
         f"RunLock({str(run)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=f"process {holder.pid}"):
            RunLock(run).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with RunLock(run):  # the kernel dropped the dead holder's lock
            pass
    finally:
        holder.kill()


def test_resume_from_an_older_step_continues_the_run(tmp_path):
    run = tmp_path / "two"
    assert train(run, "--steps", "20", "--set", "train.checkpoint_every=10", "--set", "train.log_every=5",
                 "--set", "train.keep_checkpoints=5") == 0
    step10 = run / "checkpoints" / "step-10"
    before = tree(step10)
    assert main(["train", "vae", "--resume", str(step10), "--steps", "30", "--set", "train.log_every=5",
                 "--no-progress"]) == 0
    assert tree(step10) == before  # a committed step directory is never written into
    assert (run / "checkpoints" / "step-30").is_dir() and not list(step10.glob("checkpoints"))
    assert [p.name.split("-")[1] for p in (run / "abandoned").iterdir()] == ["20"]  # set aside, not deleted
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "step" in json.loads(line)]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no step logged twice


def test_a_run_killed_during_its_first_save_restarts(tmp_path, capsys):
    run = tmp_path / "killed"
    (run / "checkpoints" / "step-50.tmp-dead").mkdir(parents=True)
    (run / "checkpoints" / "step-50.tmp-dead" / "model.safetensors").write_bytes(b"partial")
    assert train(run, "--steps", "2") == 0
    assert not list((run / "checkpoints").glob("*.tmp-*"))


def test_resume_auto(tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="dgm")
    run = tmp_path / "auto"
    assert train(run, "--steps", "2", "--resume", "auto") == 0  # nothing to resume: starts fresh
    assert "starting fresh" in caplog.text
    assert main(["train", "vae", "--resume", "auto", "--out", str(run), "--steps", "4", "--no-progress"]) == 0
    assert (run / "checkpoints" / "step-4").is_dir()
    assert main(["train", "vae", "--resume", "auto", "--steps", "4"]) == 2  # auto needs --out


def test_checkpoint_with_nan_weights_is_refused_at_load(tmp_path, capsys):
    run = tmp_path / "nan"
    assert train(run, "--steps", "2") == 0
    step = run / "checkpoints" / "step-2"
    weights = load_file(str(step / "model.safetensors"))
    name = sorted(weights)[0]
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, str(step / "model.safetensors"))
    manifest = json.loads((step / "manifest.json").read_text())  # a consistent, hand-made bad checkpoint
    manifest["files"]["model.safetensors"] = {"size": (step / "model.safetensors").stat().st_size,
                                              "sha256": sha256_of(step / "model.safetensors")}
    (step / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")]) == 4
    err = capsys.readouterr().err
    assert "NaN/Inf" in err and name in err
    assert main(["train", "vae", "--resume", str(run), "--steps", "4", "--no-progress"]) == 4


def test_skip_bad_images_from_the_command_line(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(20):
        Image.fromarray((np.random.default_rng(i).random((8, 8)) * 255).astype("uint8")).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    args = ["train", "vae", "--data", f"folder:{folder}", "--steps", "2", "--batch-size", "8", *TINY[:4],
            "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 3
    assert "--skip-bad-images" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--skip-bad-images"]) == 0
    assert "skipped_bad_images: 1" in (tmp_path / "b" / "config.yaml").read_text()
    assert main([*args, "--out", str(tmp_path / "c"), "--set", "data.skip_bad=true"]) == 0


def test_hand_edits_of_config_yaml_are_refused_on_resume_with_the_fix(tmp_path, capsys):
    run = tmp_path / "r"
    assert train(run, "--steps", "2") == 0
    cfg = run / "config.yaml"
    original = cfg.read_text()
    assert main(["train", "vae", "--resume", str(run), "--steps", "3", "--no-progress"]) == 0  # unedited: fine
    assert "steps: 3" in cfg.read_text()
    before = tree(run)
    cfg.write_text(cfg.read_text().replace("  lr: 0.001", "  lr: 0.01").replace("latent_dim: 2", "latent_dim: 5"))
    edited = cfg.read_text()
    assert main(["train", "vae", "--resume", str(run), "--steps", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "config.yaml was edited (model_config.latent_dim: 2 -> 5; train.lr: 0.001 -> 0.01)" in err
    assert "--set train.lr=0.01" in err and "model and data settings cannot change" in err
    assert cfg.read_text() == edited and tree(run) == {**before, "config.yaml": sha256_of(cfg)}  # nothing touched
    cfg.write_text(edited.replace("latent_dim: 5", "latent_dim: 2"))
    # applying the edit on the command line makes the file agree with the resumed run: accepted, file rewritten
    assert main(["train", "vae", "--resume", str(run), "--steps", "4", "--no-progress", "--set", "train.lr=0.01"]) == 0
    assert "lr: 0.01" in cfg.read_text() and "steps: 4" in cfg.read_text()
    cfg.write_text("{not yaml")
    assert main(["train", "vae", "--resume", str(run), "--steps", "5", "--no-progress"]) == 2
    assert "no longer the YAML this run wrote" in capsys.readouterr().err
    cfg.unlink()  # deleting it resumes unchanged, as the message says
    assert main(["train", "vae", "--resume", str(run), "--steps", "5", "--no-progress"]) == 0
    assert original.replace("steps: 2", "steps: 5").replace("lr: 0.001", "lr: 0.01").split("versions:")[0] == \
        cfg.read_text().split("versions:")[0]


def test_metrics_logged_after_the_last_checkpoint_of_a_crashed_run_are_not_repeated(tmp_path):
    run = tmp_path / "r"
    assert train(run, "--steps", "6", "--set", "train.log_every=1", "--set", "train.checkpoint_every=2") == 0
    with open(run / "metrics.jsonl", "a") as f:  # what a run killed at step 8, after its step-6 save, leaves
        f.write('{"step": 7, "loss": 1.0}\n{"step": 8, "loss": 1.0}\n{"step": 9, "lo')
    assert main(["train", "vae", "--resume", str(run), "--steps", "9", "--no-progress"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == list(range(1, 10)) and all(r["loss"] != 1.0 for r in records if "loss" in r)
