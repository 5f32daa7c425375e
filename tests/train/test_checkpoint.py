"""Checkpoint safety (RELIABILITY.md cases 1-5, 10-14): atomic commit, injected faults, SIGKILL, ENOSPC,
truncation, hash mismatch, missing/unsafe files, legacy .pt, non-finite weights, pruning."""
from __future__ import annotations

import errno
import hashlib
import json
import pickle
import random
import time
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

from dgm.errors import CheckpointError
from dgm.train import checkpoint as ck
from dgm.train import find_checkpoint, load_weights, read_checkpoint


@pytest.fixture
def saved(tmp_path, make_model, make_trainer):
    """A trainer after 2 steps with a committed checkpoint step-2 in tmp_path/run/checkpoints."""
    tr = make_trainer(make_model(), run_dir=tmp_path / "run", steps=2)
    tr.fit()
    path = tr.save_checkpoint()
    assert path == tmp_path / "run" / "checkpoints" / "step-2"
    return tr, path


def leftovers(ckdir: Path) -> list[str]:
    return [p.name for p in ckdir.iterdir() if ".tmp-" in p.name]


def latest_name(ckdir: Path) -> str:
    return json.loads((ckdir / ck.LATEST).read_text())["latest"]


def rehash_manifest(step_dir: Path, drop: tuple[str, ...] = ()) -> None:
    """Rewrite manifest.json to match the files as they are now (so only deeper checks can object)."""
    manifest = json.loads((step_dir / ck.MANIFEST).read_text())
    manifest["files"] = {p.name: {"sha256": ck.sha256_file(p), "size": p.stat().st_size}
                         for p in sorted(step_dir.iterdir()) if p.name != ck.MANIFEST and p.name not in drop}
    (step_dir / ck.MANIFEST).write_text(json.dumps(manifest))


# --- writing -------------------------------------------------------------------------------------

def test_commit_layout_and_round_trip(saved):
    tr, path = saved
    ckdir = path.parent
    names = {p.name for p in path.iterdir()}
    assert names == {"model.safetensors", "train_state.safetensors", "train_state.json", "config.json", ck.MANIFEST}
    manifest = ck.verify(path)
    assert set(manifest["files"]) == names - {ck.MANIFEST}
    assert latest_name(ckdir) == "step-2" and leftovers(ckdir) == []
    got = read_checkpoint(ckdir.parent)
    assert got.path == path and got.step == 2
    assert got.config["format_version"] == ck.FORMAT_VERSION and got.config["model"] == "vae"
    own = tr.model.state_dict()
    assert own.keys() == got.model.keys() and all(torch.equal(own[k], got.model[k]) for k in own)


class Boom(Exception):
    """An exception type the writer does not know about."""


@pytest.mark.parametrize("fault", ["save_file#2", "unknown-exception", "safetensors-error", "manifest", "rename"])
def test_exception_mid_save_keeps_last_good(saved, tree_hashes, monkeypatch, fault):
    tr, good = saved
    ckdir = good.parent
    before = tree_hashes(ckdir)
    calls = []
    real_save_file, real_write_json, real_replace = ck.save_file, ck._write_json, ck.os.replace

    def failing_save_file(tensors, filename, *a, **k):
        calls.append(filename)
        if len(calls) == 2:  # the second file of the checkpoint: the first one is already on disk
            assert Path(calls[0]).is_file()
            if fault == "unknown-exception":
                raise Boom("a serializer blew up")
            if fault == "safetensors-error":
                raise SafetensorError("Error while serializing: I/O error: Input/output error (os error 5)")
            raise RuntimeError("injected failure while serializing")
        return real_save_file(tensors, filename, *a, **k)

    def failing_write_json(path, obj):
        if Path(path).name == ck.MANIFEST:
            calls.append(path)
            raise RuntimeError("injected failure writing the manifest")
        return real_write_json(path, obj)

    def failing_replace(src, dst):
        calls.append(dst)
        raise OSError(errno.EIO, "injected rename failure")

    if fault == "manifest":
        monkeypatch.setattr(ck, "_write_json", failing_write_json)
    elif fault == "rename":
        monkeypatch.setattr(ck.os, "replace", failing_replace)
    else:
        monkeypatch.setattr(ck, "save_file", failing_save_file)
    tr.step = 3
    with pytest.raises(CheckpointError) as info:
        tr.save_checkpoint()
    assert calls, "the injected fault never fired"
    monkeypatch.undo()
    msg = str(info.value)
    assert "step 3" in msg and str(ckdir / "step-3") in msg, msg
    assert info.value.exit_code == 4
    assert tree_hashes(ckdir) == before  # byte-identical: nothing added, removed or changed
    assert not (ckdir / "step-3").exists() and leftovers(ckdir) == []
    assert read_checkpoint(ckdir).step == 2
    assert real_replace is ck.os.replace


def test_keyboard_interrupt_mid_save_is_not_swallowed(saved, tree_hashes, monkeypatch):
    """A second Ctrl-C during the save stops at once, still leaving the last good checkpoint as it was."""
    tr, good = saved
    before = tree_hashes(good.parent)

    def interrupted(path, tensors):
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "_save_tensors", interrupted)
    tr.step = 3
    with pytest.raises(KeyboardInterrupt):
        tr.save_checkpoint()
    assert tree_hashes(good.parent) == before


def test_resave_same_step_replaces_it_atomically(saved, tree_hashes, monkeypatch):
    tr, good = saved
    with torch.no_grad():
        next(tr.model.parameters()).add_(1.0)
    assert tr.save_checkpoint() == good  # a signal right after a periodic save re-saves the same step
    assert leftovers(good.parent) == [] and read_checkpoint(good).step == 2
    assert torch.equal(read_checkpoint(good).model[next(iter(tr.model.state_dict()))],
                       next(iter(tr.model.state_dict().values())))
    # a failing rename while re-saving puts the committed copy back
    before = tree_hashes(good.parent)
    real_replace, n = ck.os.replace, []

    def replace(src, dst):
        n.append(dst)
        if len(n) == 2:  # 1st: move the committed copy aside; 2nd: the new one into place
            raise OSError(errno.EIO, "injected")
        return real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", replace)
    with torch.no_grad():
        next(tr.model.parameters()).add_(1.0)
    with pytest.raises(CheckpointError, match="step 2"):
        tr.save_checkpoint()
    monkeypatch.undo()
    assert tree_hashes(good.parent) == before and leftovers(good.parent) == []


@pytest.mark.parametrize("how", ["oserror", "safetensors"])
def test_enospc_says_no_space_and_prunes_nothing(tmp_path, monkeypatch, how):
    ckdir = tmp_path / "checkpoints"
    for step in (1, 2):
        ck.write_checkpoint(ckdir, step, {"model": "x"}, {"w": torch.full((4,), float(step))}, keep=2)
    before = {p.name: ck.sha256_file(p / "model.safetensors") for p in ck.committed(ckdir)}

    if how == "oserror":
        def full(path, tensors):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        monkeypatch.setattr(ck, "_save_tensors", full)
    else:  # what safetensors really raises on a full disk (its I/O errors are not OSError)
        def full(tensors, filename, *a, **k):
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        monkeypatch.setattr(ck, "save_file", full)
    with pytest.raises(CheckpointError) as info:
        ck.write_checkpoint(ckdir, 3, {"model": "x"}, {"w": torch.zeros(4)}, keep=1)  # keep=1: would prune
    msg = str(info.value)
    assert f"no space left on {ckdir}" in msg and "step 3" in msg, msg
    assert {p.name: ck.sha256_file(p / "model.safetensors") for p in ck.committed(ckdir)} == before
    assert leftovers(ckdir) == [] and latest_name(ckdir) == "step-2"


FSIZE_SCRIPT = """
    import resource, signal, sys
    from pathlib import Path
    import torch
    from dgm.errors import CheckpointError
    from dgm.train import checkpoint as ck

    ckdir = Path(sys.argv[1])
    ck.write_checkpoint(ckdir, 1, {"model": "x"}, {"w": torch.ones(100)})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit now fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        ck.write_checkpoint(ckdir, 2, {"model": "x"}, {"w": torch.ones(100_000)}, keep=1)
    except CheckpointError as e:
        print("error", e, flush=True)
        sys.exit(e.exit_code)
"""


def test_real_write_error_from_the_os(tmp_path, run_script):
    """A real I/O failure inside safetensors (file size limit: EFBIG), not a monkeypatched one."""
    ckdir = tmp_path / "checkpoints"
    script = run_script(FSIZE_SCRIPT, ckdir)
    assert script.wait() == 4, script.stderr()
    line = script.wait_for("error")
    assert "step 2" in line and str(ckdir / "step-2") in line and "File too large" in line, line
    assert [p.name for p in ck.committed(ckdir)] == ["step-1"] and leftovers(ckdir) == []
    assert read_checkpoint(ckdir).step == 1


def test_enospc_on_latest_pointer_after_commit(tmp_path, monkeypatch):
    ckdir = tmp_path / "checkpoints"
    ck.write_checkpoint(ckdir, 1, {"model": "x"}, {"w": torch.ones(4)}, keep=1)

    def full(checkpoints_dir, name):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ck, "_write_latest", full)
    with pytest.raises(CheckpointError, match="no space left on") as info:
        ck.write_checkpoint(ckdir, 2, {"model": "x"}, {"w": torch.ones(4)}, keep=1)
    assert "committed" in str(info.value)
    assert [p.name for p in ck.committed(ckdir)] == ["step-1", "step-2"]  # nothing pruned
    assert latest_name(ckdir) == "step-1"  # the pointer lags, but still names a committed checkpoint
    assert find_checkpoint(ckdir).name == "step-2"  # the newest committed step wins
    ck.verify(find_checkpoint(ckdir))


def test_nonfinite_weights_are_never_written(tmp_path, saved, tree_hashes):
    ckdir = tmp_path / "fresh" / "checkpoints"
    with pytest.raises(CheckpointError, match=r"non-finite values in net\.w"):
        ck.write_checkpoint(ckdir, 1, {}, {"net.w": torch.tensor([1.0, float("nan")]), "ok": torch.ones(2)})
    with pytest.raises(CheckpointError, match=r"ema\.net\.w"):
        ck.write_checkpoint(ckdir, 1, {}, {"net.w": torch.ones(2)}, ema={"net.w": torch.tensor([float("inf")])})
    assert not ckdir.exists() or list(ckdir.iterdir()) == []
    # through the trainer: the last good checkpoint stays as it was
    tr, good = saved
    before = tree_hashes(good.parent)
    name, p = next(iter(tr.model.named_parameters()))
    with torch.no_grad():
        p.view(-1)[0] = float("inf")
    tr.step = 3
    with pytest.raises(CheckpointError, match=f"refusing to save step 3: non-finite values in {name}"):
        tr.save_checkpoint()
    assert tree_hashes(good.parent) == before


def test_prune_keeps_newest_only_after_commit(tmp_path, monkeypatch):
    ckdir = tmp_path / "checkpoints"
    for step in range(1, 5):
        ck.write_checkpoint(ckdir, step, {}, {"w": torch.ones(1) * step}, keep=2)
        assert [p.name for p in ck.committed(ckdir)] == [f"step-{s}" for s in range(max(1, step - 1), step + 1)]
    assert latest_name(ckdir) == "step-4"
    ck.write_checkpoint(ckdir, 10, {}, {"w": torch.ones(1)}, keep=0)  # keep <= 0: keep everything
    assert [p.name for p in ck.committed(ckdir)] == ["step-3", "step-4", "step-10"]  # numeric, not lexical order
    # a prune happens only after a commit: a failing save of step 11 (keep=1) removes nothing
    monkeypatch.setattr(ck, "_save_tensors", lambda path, tensors: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(CheckpointError):
        ck.write_checkpoint(ckdir, 11, {}, {"w": torch.ones(1)}, keep=1)
    assert [p.name for p in ck.committed(ckdir)] == ["step-3", "step-4", "step-10"]


# --- SIGKILL while writing ----------------------------------------------------------------------

KILL_SCRIPT = """
    import sys, time
    from pathlib import Path
    import torch
    from dgm.train import checkpoint as ck

    mode, ckdir = sys.argv[1], Path(sys.argv[2]) / "checkpoints"
    # loop: 2M weights + 2x optimizer-like state (24 MB a checkpoint), so that each save takes a while
    n = 2_000_000 if mode == "loop" else 1000
    g = torch.Generator().manual_seed(0)
    model = {"enc.weight": torch.randn(n, generator=g), "enc.bias": torch.zeros(8)}
    step = 1

    real_save, real_latest = ck._save_tensors, ck._write_latest
    def save_tensors(path, tensors):
        real_save(path, tensors)
        if mode == "mid-save" and step == 4 and path.name == "model.safetensors":
            print("paused-in-save", path.parent.name, flush=True)
            time.sleep(120)
    def write_latest(checkpoints_dir, name):
        if mode == "before-latest" and step == 4:
            print("paused-before-latest", name, flush=True)
            time.sleep(120)
        real_latest(checkpoints_dir, name)
    ck._save_tensors, ck._write_latest = save_tensors, write_latest

    while True:
        step += 1
        model["enc.bias"] += 1.0  # every checkpoint differs
        optim = {"optim.main.0.exp_avg": model["enc.weight"] * 0.1, "optim.main.0.exp_avg_sq": model["enc.weight"] ** 2,
                 "rng.torch": torch.get_rng_state()}
        print("saving", step, flush=True)
        ck.write_checkpoint(ckdir, step, {"model": "vae"}, model, train_tensors=optim,
                            train_state={"step": step}, keep=2)
        print("saved", step, flush=True)
"""


def check_after_kill(ckdir: Path) -> Path:
    """What must hold after a SIGKILL at any point: every step dir is committed and verifies, latest.json
    names one of them, find_checkpoint picks a verified one; clean_stale then removes every leftover."""
    step_dirs = [p for p in ckdir.iterdir() if p.is_dir() and ".tmp-" not in p.name]
    assert step_dirs, "no committed checkpoint at all"
    for p in step_dirs:
        assert (p / ck.MANIFEST).is_file(), f"{p.name} visible without a manifest"
        ck.verify(p)
    latest = ckdir / latest_name(ckdir)
    assert latest in step_dirs
    found = find_checkpoint(ckdir.parent)
    assert found in step_dirs
    ckpt = read_checkpoint(ckdir.parent)
    assert ckpt.path == found and ckpt.step == int(found.name[5:]) and ckpt.model
    stale = leftovers(ckdir)
    assert ck.clean_stale(ckdir) == len(stale)
    assert leftovers(ckdir) == [] and sorted(ckdir.iterdir()) == sorted(step_dirs + [ckdir / ck.LATEST])
    assert find_checkpoint(ckdir.parent) == found
    return found


def test_sigkill_mid_save_leaves_last_committed(tmp_path, run_script):
    run = tmp_path / "run"
    script = run_script(KILL_SCRIPT, "mid-save", run)
    line = script.wait_for("paused-in-save")
    ckdir = run / "checkpoints"
    tmpdir = ckdir / line.split()[1]
    assert ".tmp-" in tmpdir.name and (tmpdir / "model.safetensors").is_file()
    script.proc.kill()
    assert script.wait() == -9
    assert tmpdir.is_dir() and not (tmpdir / ck.MANIFEST).exists()  # the partial save is there...
    assert [p.name for p in ck.committed(ckdir)] == ["step-2", "step-3"] and latest_name(ckdir) == "step-3"
    assert check_after_kill(ckdir).name == "step-3"  # ...and ignored, then cleaned
    assert not tmpdir.exists()


def test_sigkill_between_commit_and_latest(tmp_path, run_script):
    run = tmp_path / "run"
    script = run_script(KILL_SCRIPT, "before-latest", run)
    script.wait_for("paused-before-latest")
    script.proc.kill()
    assert script.wait() == -9
    ckdir = run / "checkpoints"
    assert [p.name for p in ck.committed(ckdir)] == ["step-2", "step-3", "step-4"]  # not pruned yet
    assert latest_name(ckdir) == "step-3"
    assert check_after_kill(ckdir).name in {"step-3", "step-4"}


def test_sigkill_at_a_random_moment_of_repeated_saves(tmp_path, run_script):
    run = tmp_path / "run"
    script = run_script(KILL_SCRIPT, "loop", run)
    script.wait_for("saved 3")
    t0 = time.monotonic()
    script.wait_for("saved 4")
    save_time = time.monotonic() - t0
    script.wait_for("saving 5")
    time.sleep(random.uniform(0.0, save_time))  # somewhere inside the save of step 5 (or just after)
    script.proc.kill()
    assert script.wait() == -9
    found = check_after_kill(run / "checkpoints")
    assert int(found.name[5:]) >= 4


# --- reading -------------------------------------------------------------------------------------

def test_truncated_model_file_is_refused(saved):
    _, path = saved
    f = path / "model.safetensors"
    data = f.read_bytes()
    assert len(data) > 2048
    f.write_bytes(data[:-1024])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        read_checkpoint(path)
    assert str(f) in str(info.value) and info.value.exit_code == 4
    rehash_manifest(path)  # now size and sha256 match: only the safetensors parser can tell
    ck.verify(path)
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        read_checkpoint(path)
    assert f"checkpoint {f} is truncated or corrupt" in str(info.value)


def test_sha256_mismatch_is_refused_with_both_hashes(saved):
    _, path = saved
    f = path / "train_state.safetensors"
    expected = json.loads((path / ck.MANIFEST).read_text())["files"][f.name]["sha256"]
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    f.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path.parent.parent)
    msg = str(info.value)
    assert expected in msg and actual in msg and str(f) in msg, msg


def test_file_not_covered_by_manifest_is_refused(saved):
    _, path = saved
    rehash_manifest(path, drop=("model.safetensors",))
    with pytest.raises(CheckpointError, match="model.safetensors is not listed in manifest.json"):
        read_checkpoint(path)


def test_corrupt_manifest_is_refused(saved):
    _, path = saved
    (path / ck.MANIFEST).write_text('{"files": {"model.safetensors": {"size": "many"}}}')
    with pytest.raises(CheckpointError, match="manifest.json is corrupt"):
        read_checkpoint(path)
    (path / ck.MANIFEST).write_text('{"files": {"../../x": {"size": 1, "sha256": "00"}}}')
    with pytest.raises(CheckpointError, match="outside"):
        read_checkpoint(path)


def test_newer_format_version_is_refused(saved):
    _, path = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["format_version"] = ck.FORMAT_VERSION + 1
    (path / "config.json").write_text(json.dumps(cfg))
    rehash_manifest(path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert (f"unsupported checkpoint format v{ck.FORMAT_VERSION + 1} (this build reads <= {ck.FORMAT_VERSION})"
            in str(info.value))
    with pytest.raises(CheckpointError, match="unsupported checkpoint format"):
        ck.read_config(path)


def test_missing_config_json_is_refused(saved):
    _, path = saved
    (path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json missing"):  # caught by the manifest
        read_checkpoint(path)
    rehash_manifest(path)  # a manifest that does not list it either
    with pytest.raises(CheckpointError, match="config.json missing"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="config.json missing"):
        ck.read_config(path)


def test_find_checkpoint_messages(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(CheckpointError, match="checkpoint not found") as info:
        find_checkpoint(missing)
    assert str(missing) in str(info.value) and info.value.exit_code == 4
    empty = tmp_path / "run"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in") as info:
        find_checkpoint(empty)
    assert str(empty) in str(info.value)
    (empty / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        read_checkpoint(empty)


def test_find_checkpoint_ignores_uncommitted_and_bad_pointers(saved):
    _, good = saved
    ckdir = good.parent
    (ckdir / "step-99").mkdir()  # a step dir without a manifest does not exist for resume
    (ckdir / "step-99" / "config.json").write_text("{}")
    (ckdir / "step-100.tmp-abc").mkdir()
    (ckdir / "step-100.tmp-abc" / ck.MANIFEST).write_text("{}")
    assert find_checkpoint(ckdir.parent) == good
    (ckdir / ck.LATEST).write_text('{"latest": "step-99"}')  # a pointer to an uncommitted dir
    assert find_checkpoint(ckdir.parent) == good
    (ckdir / ck.LATEST).write_text("{not json")  # a damaged pointer
    assert find_checkpoint(ckdir) == good
    with pytest.raises(CheckpointError, match="never committed"):  # named explicitly: refused, not guessed
        read_checkpoint(ckdir / "step-99")
    assert ck.clean_stale(ckdir) == 1 and not (ckdir / "step-100.tmp-abc").exists()


# --- legacy .pt and pickle ----------------------------------------------------------------------

def test_legacy_tensors_only_pt_loads(tmp_path, make_model):
    model = make_model()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    for name, obj in {"plain.pt": sd, "wrapped.pt": {"state_dict": sd}}.items():
        torch.save(obj, tmp_path / name)
        got = ck.load_legacy_pt(tmp_path / name)
        assert got.keys() == sd.keys() and all(torch.equal(got[k], sd[k]) for k in sd)
    other = make_model(seed=1)
    load_weights(other, ck.load_legacy_pt(tmp_path / "plain.pt"), tmp_path / "plain.pt")
    assert all(torch.equal(other.state_dict()[k], sd[k]) for k in sd)
    torch.save({"model": sd, "epoch": 3}, tmp_path / "nested.pt")
    with pytest.raises(CheckpointError, match="flat dict of tensors"):
        ck.load_legacy_pt(tmp_path / "nested.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        ck.load_legacy_pt(tmp_path / "junk.pt")


class Malicious:
    """Unpickling calls a marker function that writes a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    bad = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": Malicious(marker)}, bad)
    with pytest.raises(CheckpointError) as info:
        ck.load_legacy_pt(bad)
    assert "--trust-pickle" in str(info.value) and str(bad) in str(info.value)
    assert info.value.exit_code == 4
    assert not marker.exists(), "the pickle payload ran"
    # the fixture really is malicious: with the explicit, warned opt-in the payload does run
    with pytest.warns(UserWarning, match="full pickle"), pytest.raises(CheckpointError, match="flat dict"):
        ck.load_legacy_pt(bad, trust_pickle=True)
    assert marker.read_text() == "pwned"


def test_plain_pickle_file_is_refused(tmp_path):
    bad = tmp_path / "evil.pkl"
    marker = tmp_path / "marker"
    bad.write_bytes(pickle.dumps(Malicious(marker), protocol=2))
    with pytest.raises(CheckpointError):
        ck.load_legacy_pt(bad)
    assert not marker.exists()
