"""Fixtures for the trainer/checkpoint tests: a tiny dataset, tiny models and trainers, file hashing,
and the environment to run small scripts against ``src`` in a subprocess."""
from __future__ import annotations

import hashlib
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

import dgm.data
import dgm.models as models
from dgm.train import TrainConfig, Trainer, seed_everything

SRC = Path(__file__).resolve().parents[2] / "src"

# 250 samples: not a multiple of the batch size used below (32), so epochs end mid-way through the data
TINY_N = 250


@pytest.fixture(scope="session")
def tiny_data():
    """250 MNIST images (1x28x28 uint8), bundled and offline."""
    return dgm.data.load("mnist-10k").subset(slice(0, TINY_N))


@pytest.fixture
def make_model(tiny_data):
    """make_model(name="vae", seed=0, **config) -> a tiny model (one hidden layer of 16, 4 latents)."""

    def make(name: str = "vae", seed: int = 0, **values):
        seed_everything(seed)
        fields = models.models.get(name).cls.Config.__dataclass_fields__  # defaults only where the model has them
        values = {**{k: v for k, v in {"hidden": (16,), "latent_dim": 4}.items() if k in fields}, **values}
        return models.create(name, tiny_data.info, **values)

    return make


@pytest.fixture
def make_trainer(tiny_data):
    """make_trainer(model, run_dir=None, callbacks=(), name="vae", **train_config) -> Trainer.

    No default callbacks (no progress bar, sample grids or logs) unless passed: tests save explicitly.
    """

    def make(model, run_dir=None, callbacks=(), name="vae", data=None, **cfg):
        cfg = {"steps": 30, "batch_size": 32, "lr": 1e-3, **cfg}
        return Trainer(model, data if data is not None else tiny_data, TrainConfig(**cfg), run_dir=run_dir,
                       model_name=name, callbacks=list(callbacks), progress=False)

    return make


def _tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


@pytest.fixture
def tree_hashes():
    """tree_hashes(root) -> {relative path: sha256} of everything under root (dirs as "<dir>")."""
    return _tree_hashes


@pytest.fixture
def subprocess_env():
    """Environment for ``sys.executable script.py``: dgm importable from src, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env



class Script:
    """A Python script running in a subprocess, its stdout read line by line in a thread."""

    def __init__(self, proc: subprocess.Popen, stderr_path: Path):
        self.proc, self.stderr_path = proc, stderr_path
        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        """Block until a stdout line starts with ``prefix``; returns it (fails on exit or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no line starting with {prefix!r} within {timeout}s; got {self.lines[-5:]}\n{self.stderr()}")
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"script exited ({self.proc.wait()}) before printing {prefix!r}; "
                            f"got {self.lines[-5:]}\n{self.stderr()}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"script did not exit within {timeout}s; last lines {self.lines[-5:]}\n{self.stderr()}")


@pytest.fixture
def run_script(tmp_path, subprocess_env):
    """run_script(source, *args) -> Script: runs ``source`` with sys.executable; killed at teardown."""
    started: list[Script] = []

    def run(source: str, *args) -> Script:
        n = len(started)
        script = tmp_path / f"script{n}.py"
        script.write_text(textwrap.dedent(source))
        err = tmp_path / f"script{n}.stderr"
        with open(err, "w") as ferr:
            proc = subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE,
                                    stderr=ferr, text=True, env=subprocess_env, cwd=tmp_path)
        started.append(Script(proc, err))
        return started[-1]

    yield run
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
