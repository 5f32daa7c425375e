"""The runs folder the web app's tests serve: real tiny runs trained through the CLI (a fresh copy per test
module, as the modules change it)."""
from __future__ import annotations

import os
import shutil

import pytest
import yaml

from dgm.cli.main import main

VAE = ["--data", "mnist-10k", "--set", "model.hidden=[16]", "--set", "model.latent_dim=3", "--steps", "6",
       "--batch-size", "16", "--no-progress"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """runs/: vae (finished), cgan (finished, conditional), style (finished, style-based), stopped (budget not reached), failed (no checkpoint)."""
    root = tmp_path_factory.mktemp("serve") / "runs"
    assert main(["train", "vae", *VAE, "--out", str(root / "vae")]) == 0
    assert main(["train", "cgan", "--data", "mnist-10k", "--set", "model.mlp_hidden=[16]", "--set",
                 "model.channels=8", "--set", "model.latent_dim=8", "--steps", "2", "--batch-size", "8",
                 "--no-progress", "--out", str(root / "cgan")]) == 0
    assert main(["train", "stylegan2", "--data", "mnist-10k", "--set", "model.networks.channels=8", "--set",
                 "model.latent_dim=8", "--steps", "2", "--batch-size", "8", "--no-progress",
                 "--out", str(root / "style")]) == 0
    shutil.copytree(root / "vae", root / "stopped")
    cfg = yaml.safe_load((root / "stopped" / "config.yaml").read_text())
    cfg["train"]["steps"] = 100
    (root / "stopped" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (root / "failed").mkdir()
    shutil.copy(root / "vae" / "config.yaml", root / "failed" / "config.yaml")
    (root / "outside.json").write_text('{"secret": 1}')
    os.symlink(root / "outside.json", root / "vae" / "leak.json")  # a symlink out of the run
    return root
