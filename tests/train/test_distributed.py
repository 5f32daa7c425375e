"""Data-parallel training under torchrun (gloo on 127.0.0.1, CPU): two processes with batch B give the weights
of one process with batch 2B (a VAE; a GAN's two players with a gradient penalty), stop and resume on two
processes is bit-exact, a two-process run resumes on one with a warning; and the per-rank noise rule in
process (ShardedNoise), where it can be checked number by number."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dgm.train.distributed import ShardedNoise, World

VAE = ["vae", "--data", "mnist-10k", "--set", "model.hidden=[32]", "--set", "model.latent_dim=4", "--seed", "3"]
# an MLP GAN (no batch norm: its batch statistics would couple the shards) with WGAN-GP's penalty (double
# backward, a random interpolation per example) and two critic steps per generator step
GAN = ["wgan-gp", "--data", "mnist-10k", "--set", "model.networks.architecture=mlp", "--set",
       "model.networks.mlp_hidden=[32]", "--set", "model.latent_dim=8", "--seed", "1"]


def dgm(args: list[str], processes: int = 1, check: bool = True) -> subprocess.CompletedProcess:
    """`dgm ARGS` in a fresh interpreter, under torchrun with ``processes`` workers when more than one."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DGM_DIST_TIMEOUT_S": "60"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] \
        if processes > 1 else [sys.executable]
    out = subprocess.run([*launcher, "-m", "dgm", *args, "--no-progress", "--threads", "1"], env=env,
                         capture_output=True, text=True, timeout=300)
    if check and out.returncode != 0:
        raise AssertionError(f"dgm {' '.join(args)} on {processes} exited {out.returncode}:\n{out.stderr[-3000:]}")
    return out


def weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / f"step-{step}" / "model.safetensors")


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_two_processes_with_batch_b_match_one_with_2b(tmp_path):
    dgm(["train", *VAE, "--steps", "20", "--batch-size", "16", "--out", str(tmp_path / "one")])
    two = dgm(["train", *VAE, "--steps", "20", "--batch-size", "8", "--out", str(tmp_path / "two")], processes=2)
    assert max_difference(weights(tmp_path / "one", 20), weights(tmp_path / "two", 20)) < 1e-5
    assert two.stdout.count("trained vae") == 1  # rank 0 alone reports (and writes the run's files)
    import yaml

    resolved = yaml.safe_load((tmp_path / "two" / "config.yaml").read_text())["resolved"]["processes"]
    assert resolved == {"world_size": 2, "backend": "gloo", "global_batch": 16}
    # logged values are averaged over the ranks: the one-process run's to float precision
    import json

    one_log = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()][-1]
    two_log = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()][-1]
    assert one_log["step"] == two_log["step"] and abs(one_log["loss"] - two_log["loss"]) < 1e-4 * abs(one_log["loss"])


def test_a_gans_two_players_with_a_gradient_penalty(tmp_path):
    dgm(["train", *GAN, "--steps", "12", "--batch-size", "16", "--out", str(tmp_path / "one")])
    dgm(["train", *GAN, "--steps", "12", "--batch-size", "8", "--out", str(tmp_path / "two")], processes=2)
    assert max_difference(weights(tmp_path / "one", 12), weights(tmp_path / "two", 12)) < 1e-5


def test_batch_norm_over_the_global_batch(tmp_path):
    """DCGAN has batch norm in both players: with train.sync_batchnorm its statistics are the global batch's and
    two processes match one; without, each process normalises its shard (and is told so). In fp32 with SGD:
    batch norm makes some weight gradients zero up to rounding, and Adam's first steps (g / (|g| + eps)) turn
    that rounding into steps of +-lr, so Adam runs agree only to about lr whichever way they are split."""
    dcgan = ["dcgan", "--data", "mnist-10k", "--set", "model.channels=8", "--set", "model.latent_dim=8", "--seed",
             "2", "--steps", "6", "--set", "train.precision=fp32", "--set", "train.optimizer=sgd", "--lr", "0.01"]
    dgm(["train", *dcgan, "--batch-size", "16", "--out", str(tmp_path / "one")])
    dgm(["train", *dcgan, "--batch-size", "8", "--set", "train.sync_batchnorm=true", "--out",
         str(tmp_path / "sync")], processes=2)
    apart = dgm(["train", *dcgan, "--batch-size", "8", "--out", str(tmp_path / "apart")], processes=2)
    one = weights(tmp_path / "one", 6)
    assert max_difference(one, weights(tmp_path / "sync", 6)) < 1e-5
    assert max_difference(one, weights(tmp_path / "apart", 6)) > 1e-2
    assert "set train.sync_batchnorm=true" in apart.stderr


def test_stop_and_resume_on_two_processes_is_bit_exact_and_one_process_continues(tmp_path):
    run, whole = tmp_path / "run", tmp_path / "whole"
    dgm(["train", *VAE, "--steps", "16", "--batch-size", "8", "--out", str(whole)], processes=2)
    dgm(["train", *VAE, "--steps", "8", "--batch-size", "8", "--out", str(run)], processes=2)
    dgm(["train", "vae", "--resume", str(run), "--steps", "16"], processes=2)
    assert max_difference(weights(whole, 16), weights(run, 16)) == 0.0
    one = dgm(["train", "vae", "--resume", str(run), "--steps", "20"])
    assert "trained on 2 process(es) on 1: the global batch changes from 16 to 8" in one.stderr
    assert (run / "checkpoints" / "step-20").is_dir()


def test_a_lost_process_stops_the_other_with_one_line_and_checkpoints_stay_whole(tmp_path):
    """Two processes started as another node's launcher would (the environment only, no torchrun agent to kill
    the survivor): SIGKILL rank 1 once a checkpoint is committed; rank 0 exits 6 within 60 s with one line."""
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "run"
    procs = []
    for rank in range(2):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "DGM_DIST_TIMEOUT_S": "60", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank)}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dgm", "train", *VAE, "--steps", "1000000", "--batch-size", "8", "--no-progress",
             "--threads", "1", "--set", "train.checkpoint_every=20", "--out", str(run)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 240
        while not (run / "checkpoints" / "latest.json").exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, procs[0].communicate()[1][-2000:]
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        _, err = procs[0].communicate(timeout=60)
        assert time.monotonic() - t0 < 60
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 6
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "process 0 of 2 lost the others" in lines[0] and "Traceback" not in err
    from dgm.train.checkpoint import committed, read_checkpoint

    steps = committed(run / "checkpoints")
    assert steps and sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(
        ["latest.json", *(p.name for p in steps)])
    assert read_checkpoint(run).train_state["step"] % 20 == 0


def test_two_torchrun_nodes_on_localhost_train_and_checkpoint(tmp_path):
    """Two torchrun agents, one process each, meeting through a c10d rendezvous on 127.0.0.1 (--nnodes 2)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DGM_DIST_TIMEOUT_S": "60"}
    run = tmp_path / "run"
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
         "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "dgm-test",
         "-m", "dgm", "train", *VAE, "--steps", "6", "--batch-size", "8", "--no-progress", "--threads", "1",
         "--out", str(run)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)]
    outs = [n.communicate(timeout=300) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], [o[1][-2000:] for o in outs]
    assert sum(o[0].count("trained vae") for o in outs) == 1
    import yaml

    assert yaml.safe_load((run / "config.yaml").read_text())["resolved"]["processes"]["world_size"] == 2
    assert (run / "checkpoints" / "step-6" / "manifest.json").is_file()


def test_sharded_draws_are_one_process_rows_and_other_draws_differ_per_rank():
    """Rank r of 2 with batch 4 draws rows 4r..4r+3 of what one process draws for batch 8, leaves every stream
    where one process leaves it for shaped draws, and gets its own numbers for the others."""
    b, size = 4, 2

    def under(rank, fn, seed=0):
        torch.manual_seed(seed)
        with ShardedNoise(World(rank, size), b):
            out = fn()
        return out, torch.rand(())  # where the stream is afterwards

    torch.manual_seed(0)
    whole = torch.randn(2 * b, 3)
    after_whole = torch.rand(())
    x = torch.zeros(b, 2, 5)
    cases = {"randn": lambda: torch.randn(b, 3), "randn tuple": lambda: torch.randn((b, 3)),
             "randn size=": lambda: torch.randn(size=(b, 3))}
    for name, fn in cases.items():
        for rank in range(size):
            got, after = under(rank, fn)
            assert torch.equal(got, whole[rank * b:(rank + 1) * b]), name
            assert torch.equal(after, after_whole), name
    # a leading dimension that is not the batch: the batch's dimension is found (IWAE's k x B x d)
    torch.manual_seed(0)
    k_whole = torch.randn(5, 2 * b, 3)
    assert torch.equal(under(1, lambda: torch.randn(5, b, 3))[0], k_whole[:, b:])
    torch.manual_seed(0)
    like_whole = torch.randn(2 * b, 2, 5)
    assert torch.equal(under(1, lambda: torch.randn_like(x))[0], like_whole[b:])
    assert torch.equal(under(1, lambda: x.clone().normal_())[0], like_whole[b:])
    torch.manual_seed(0)
    ints = torch.randint(0, 10, (2 * b,))
    assert torch.equal(under(0, lambda: torch.randint(0, 10, (b,)))[0], ints[:b])
    # draws without the batch size, and random operations on given tensors: different numbers per rank, and
    # the stream advances alike on every rank
    for fn in (lambda: torch.randn(3, 7), lambda: torch.bernoulli(torch.full((b, 6), 0.5)),
               lambda: torch.nn.functional.dropout(torch.ones(b, 50), 0.5), lambda: torch.randperm(9)):
        (r0, a0), (r1, a1) = under(0, fn), under(1, fn)
        assert not torch.equal(r0, r1) and torch.equal(a0, a1)
    gen0, gen1 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    with ShardedNoise(World(0, size), b):
        g0 = torch.randn(3, 7, generator=gen0)
    with ShardedNoise(World(1, size), b):
        g1 = torch.randn(3, 7, generator=gen1)
    assert not torch.equal(g0, g1) and torch.equal(gen0.get_state(), gen1.get_state())


def test_one_process_world_changes_nothing():
    w = World()
    assert not w.distributed and w.is_main and w.any([True, False]) == [True, False]
    x = torch.arange(6.0)
    logs = {"a": x[0]}
    assert w.shard(x) is x and w.mean(logs) is logs
    with pytest.raises(Exception, match="torchrun"):
        env = {k: os.environ.get(k) for k in ("WORLD_SIZE", "RANK")}
        os.environ["WORLD_SIZE"] = "2"
        os.environ.pop("RANK", None)
        try:
            World.from_environment("cpu")
        finally:
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
