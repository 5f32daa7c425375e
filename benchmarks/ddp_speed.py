"""Issue 23's data-parallel efficiency on this machine: training samples/s of the README figures' VAE and DCGAN
(configs/vae_mnist_15m.yaml, configs/gan_dcgan_mnist.yaml, each at its own precision) on one process with two
threads against two processes with one thread each under torchrun, at the same global batch:

    dgm train vae --config configs/vae_mnist_15m.yaml --steps S --threads 2 --out RUN1
    torchrun --standalone --nproc_per_node=2 -m dgm train vae --config configs/vae_mnist_15m.yaml --steps S \\
        --threads 1 --batch-size B/2 --out RUN2

samples/s = steps x global batch / the training seconds the run recorded (start-up and the final checkpoint
excluded). The figure is the two-process / one-process ratio per model (1.0: the split costs nothing).

    PYTHONPATH=src python3 benchmarks/ddp_speed.py [--vae-steps 3000] [--dcgan-steps 300] [--no-record]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import yaml

MODELS = {"vae": "configs/vae_mnist_15m.yaml", "dcgan": "configs/gan_dcgan_mnist.yaml"}


def train(model: str, steps: int, processes: int, data_dir: Path, out: Path) -> tuple[str, dict]:
    """One run; its command and {steps, train_s, global_batch, samples_per_s, precision}."""
    config = MODELS[model]
    batch = yaml.safe_load((common.REPO / config).read_text())["train"]["batch_size"]
    args = ["-m", "dgm", "train", model, "--config", config, "--steps", str(steps), "--data-dir", str(data_dir),
            "--threads", str(2 // processes), "--no-progress", "--out", str(out)]
    if processes > 1:
        args += ["--batch-size", str(batch // processes)]
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        shown = f"torchrun --standalone --nproc_per_node={processes} "
    else:
        launcher, shown = [sys.executable], ""
    env = {**os.environ, "OMP_NUM_THREADS": str(2 // processes), "PYTHONPATH": str(common.REPO / "src")}
    subprocess.run([*launcher, *args], check=True, env=env, cwd=common.REPO)
    state = json.loads((out / "checkpoints" / f"step-{steps}" / "train_state.json").read_text())
    resolved = yaml.safe_load((out / "config.yaml").read_text())["resolved"]
    global_batch = resolved.get("processes", {}).get("global_batch", batch)
    train_s = float(state["train_seconds"])
    return shown + "dgm " + " ".join(args[2:]), {
        "steps": steps, "train_s": round(train_s, 2), "global_batch": global_batch,
        "samples_per_s": round(steps * global_batch / train_s, 1), "precision": resolved["precision"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vae-steps", type=int, default=3000)
    p.add_argument("--dcgan-steps", type=int, default=300)
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    threads, load_start, data_dir = common.begin(2)
    root = Path(tempfile.mkdtemp(prefix="dgm-ddp-speed-"))
    for model, steps in (("vae", args.vae_steps), ("dcgan", args.dcgan_steps)):
        runs, commands = {}, []
        for processes in (1, 2):
            command, runs[processes] = train(model, steps, processes, data_dir, root / f"{model}-{processes}")
            commands.append(command)
            print(f"{model} on {processes} process(es): {runs[processes]}", flush=True)
        ratio = runs[2]["samples_per_s"] / runs[1]["samples_per_s"]
        record = {
            "benchmark": "ddp_speed", "metric": "two_process_speed_ratio", "value": round(ratio, 3),
            "model": model, "variant": f"{model}: 2 processes x 1 thread / 1 process x 2 threads, global batch "
                                       f"{runs[1]['global_batch']}, {runs[1]['precision']}",
            "one_process": runs[1], "two_processes": runs[2], "target": "reported (no threshold in the issue)",
            "command": " && ".join(commands), "threads": threads, "load_avg_start": load_start}
        common.emit(record, "ddp_speed", save=not args.no_record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
