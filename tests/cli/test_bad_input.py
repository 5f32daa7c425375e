"""User mistakes get their documented exit code (2 usage/config, 3 data, 4 checkpoint) and one line naming the
problem, never "unexpected" (exit 1) or a traceback: non-finite and out-of-range settings, malformed config
files, unwritable outputs, too few or mismatched samples to evaluate, hand-edited checkpoints."""
import json

import numpy as np
import pytest

from dgm.cli.main import main

TINY = ["--set", "model.hidden=[8]", "--set", "model.latent_dim=2", "--no-progress", "--steps", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "run"
    assert main(["train", "vae", "--out", str(out), *TINY]) == 0
    return out


@pytest.mark.parametrize("args", [
    ["--set", "train.lr=nan"], ["--set", "train.batch_size=nan"], ["--set", "train.log_every=nan"],
    ["--set", "train.max_nonfinite=inf"], ["--set", "train.weight_decay=-1"], ["--set", "data.size=abc"],
    ["--set", "data.size=-4"], ["--seed", str(2**70)], ["--lr", "inf"], ["--lr", "nan"],
    ["--set", "train.grad_clip=nan"], ["--set", "train.time_budget_s=inf"], ["--set", "model.beta=nan"],
])
def test_bad_training_values_are_config_errors(args, tmp_path, capsys):
    code = main(["train", "vae", "--out", str(tmp_path / "r"), *TINY, *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "unexpected" not in err
    assert "error:" in err.strip().splitlines()[-1]  # one line says it (argparse prints its usage line above)


def test_config_file_with_a_scalar_section(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("train: 5\n")
    assert main(["train", "vae", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "section train" in capsys.readouterr().err


def test_outputs_that_cannot_be_written(tmp_path, run, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["train", "vae", "--out", str(afile), *TINY]) == 2
    assert main(["train", "vae", "--out", str(afile / "run"), *TINY]) == 2
    assert main(["sample", str(run), "-n", "2", "--out", str(afile / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "afile" in err and "Traceback" not in err


def test_data_dir_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code = main(["train", "vae", "--data", "mnist", "--data-dir", str(afile), "--out", str(tmp_path / "r"), *TINY])
    assert code in (2, 3) and "Traceback" not in capsys.readouterr().err


def test_manifold_of_a_latent_space_that_is_not_2d(run, tmp_path, capsys):
    assert main(["train", "vae", "--out", str(tmp_path / "r3"), *TINY, "--set", "model.latent_dim=3"]) == 0
    assert main(["viz", str(tmp_path / "r3"), "manifold", "--out", str(tmp_path / "m.png")]) == 2
    assert "2-D latent space" in capsys.readouterr().err


@pytest.mark.parametrize("n", [0, 1, 2])
def test_eval_of_too_few_images(n, tmp_path, capsys):
    np.savez(tmp_path / "s.npz", images=np.zeros((n, 1, 28, 28), dtype=np.uint8))
    assert main(["eval", str(tmp_path / "s.npz"), "--dataset", "mnist-10k"]) == 3
    assert "too few" in capsys.readouterr().err


def test_eval_of_an_empty_file_and_of_images_against_points(tmp_path, capsys):
    (tmp_path / "empty.npz").write_bytes(b"")
    assert main(["eval", str(tmp_path / "empty.npz"), "--dataset", "mnist-10k"]) == 3
    np.savez(tmp_path / "s.npz", images=np.zeros((10, 1, 28, 28), dtype=np.uint8))
    assert main(["eval", str(tmp_path / "s.npz"), "--dataset", "ring8"]) == 3
    assert "2-D points" in capsys.readouterr().err


@pytest.mark.parametrize("file, edit", [
    ("train_state.json", lambda d: {**d, "step": "abc"}),
    ("config.json", lambda d: {k: v for k, v in d.items() if k != "data"}),
])
def test_hand_edited_checkpoint_json(file, edit, run, tmp_path, capsys):
    import shutil

    from dgm.data.download import sha256_of

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    step = sorted((copy / "checkpoints").glob("step-*"))[-1]
    (step / file).write_text(json.dumps(edit(json.loads((step / file).read_text()))))
    manifest = json.loads((step / "manifest.json").read_text())  # consistent hashes: only the content is bad
    manifest["files"][file] = {"size": (step / file).stat().st_size, "sha256": sha256_of(step / file)}
    (step / "manifest.json").write_text(json.dumps(manifest))
    assert main(["train", "vae", "--resume", str(copy), "--steps", "4", "--no-progress"]) == 4
    err = capsys.readouterr().err
    assert "corrupt" in err and "Traceback" not in err


def test_out_on_a_read_only_disk(tmp_path, monkeypatch, capsys):
    import errno
    from pathlib import Path

    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):  # what mkdir raises on a disk mounted read-only
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["train", "vae", "--out", str(tmp_path / "ro" / "run"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "choose a directory you can write to" in err


@pytest.fixture
def read_only_mount(tmp_path):
    """A real read-only tmpfs (needs the right to mount, as root in a container has; else skipped)."""
    import subprocess

    d = tmp_path / "ro"
    d.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True)
    except OSError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    yield d
    subprocess.run(["umount", str(d)], check=True)


def test_outputs_on_a_real_read_only_disk(read_only_mount, run, capsys):
    assert main(["train", "vae", "--out", str(read_only_mount / "run"), *TINY]) == 2
    assert main(["sample", str(run), "-n", "2", "--out", str(read_only_mount / "x.png")]) == 2
    assert main(["viz", str(run), "traverse", "--out", str(read_only_mount / "t.png")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected" not in err and "Read-only file system" in err
