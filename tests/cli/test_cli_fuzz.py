"""Property-based fuzzing of the CLI (hypothesis): random invocations of train / sample / eval / viz drawn from
valid and invalid values for their flags and `--set` keys (NaN, inf, negative, zero, huge, wrong types, empty
strings, paths that are files or missing), run in process with a tiny model. Every invocation must end with a
documented exit code, never 1 ("unexpected"), never a traceback, and never leave a half-written run directory."""
import dataclasses
import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dgm.cli.main import main  # noqa: E402
from dgm.train import TrainConfig  # noqa: E402

EXAMPLES = 60  # per property; the suite stays fast (each example trains a 2-step tiny VAE at most)
DOCUMENTED = {0, 2, 3, 4, 5}
NASTY = ["nan", "inf", "-inf", "-1", "0", "1", "2", "1e30", "abc", "", "[1,2]", "true", "null", "0.5", "-0.5",
         str(2**70)]
# length and timing keys are the flags' business below; compile would spend the example in torch.compile
TRAIN_KEYS = [f.name for f in dataclasses.fields(TrainConfig)
              if f.name not in ("steps", "epochs", "time_budget_s", "eval_every_s", "eval_every", "compile")]
MODEL_KEYS = ["hidden", "latent_dim", "beta", "iwae_k", "likelihood", "gaussian_std", "capacity", "activation",
              "architecture", "no_such_key"]
SEEN: dict[int, int] = {}  # exit code -> invocations


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "afile").write_text("x")
    run = root / "run"
    assert main(["train", "vae", "--steps", "2", "--out", str(run), "--no-progress",
                 "--set", "model.hidden=[8]", "--set", "model.latent_dim=2"]) == 0
    return {"root": root, "afile": root / "afile", "run": run}


def check(code: int, err: str) -> None:
    SEEN[code] = SEEN.get(code, 0) + 1
    assert code in DOCUMENTED, f"exit {code}: {err[-500:]}"
    assert "Traceback" not in err and "unexpected" not in err, err[-500:]


def run_dirs_are_whole(root) -> bool:
    """No run directory holds an uncommitted checkpoint left behind (a .tmp- save of a finished process)."""
    return not [p for p in root.rglob("*.tmp-*")]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(train_sets=st.lists(st.tuples(st.sampled_from(TRAIN_KEYS), st.sampled_from(NASTY)), max_size=2),
       model_sets=st.lists(st.tuples(st.sampled_from(MODEL_KEYS), st.sampled_from(NASTY)), max_size=2),
       steps=st.sampled_from(["1", "2", "0", "-3", "nan", "abc"]),
       flags=st.lists(st.sampled_from([["--lr", "nan"], ["--lr", "0.01"], ["--batch-size", "0"],
                                       ["--batch-size", "16"], ["--seed", "-1"], ["--seed", "7"],
                                       ["--time-budget", "abc"], ["--time-budget", "5"], ["--threads", "1"],
                                       ["--device", "cpu"], ["--device", "tpu"], ["--resume", "auto"]]),
                      max_size=2),
       out=st.sampled_from(["new", "afile", "under_file", "existing_run"]))
def test_train_never_fails_unexpectedly(places, capsys, train_sets, model_sets, steps, flags, out):
    target = {"new": places["root"] / f"r{os.urandom(4).hex()}", "afile": places["afile"],
              "under_file": places["afile"] / "run", "existing_run": places["run"]}[out]
    argv = ["train", "vae", "--steps", steps, "--out", str(target), "--no-progress",
            "--set", "model.hidden=[8]", "--set", "model.latent_dim=2", "--set", "train.batch_size=16"]
    argv += [a for k, v in train_sets for a in ("--set", f"train.{k}={v}")]
    argv += [a for k, v in model_sets for a in ("--set", f"model.{k}={v}")]
    argv += [a for f in flags for a in f]
    capsys.readouterr()
    check(main(argv), capsys.readouterr().err)
    assert run_dirs_are_whole(places["root"])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["sample", "eval", "viz"]),
       target=st.sampled_from(["run", "afile", "missing"]),
       n=st.sampled_from(["1", "4", "0", "-2", "nan", "abc"]),
       options=st.lists(st.sampled_from([["--temperature", "inf"], ["--temperature", "0.5"], ["--truncation", "1"],
                                         ["--labels", "3"], ["--labels", "x"], ["--no-mean"], ["--seed", "abc"],
                                         ["--metrics", "fid,bogus"], ["--metrics", "elbo"], ["--k", "0"],
                                         ["--device", "cuda:9"]]), max_size=2),
       out=st.sampled_from(["ok.png", "ok.npz", "afile/x.png", "bad.txt"]))
def test_sample_eval_viz_never_fail_unexpectedly(places, capsys, command, target, n, options, out):
    path = {"run": places["run"], "afile": places["afile"], "missing": places["root"] / "missing"}[target]
    out_path = str(places["root"] / out) if out != "afile/x.png" else str(places["afile"] / "x.png")
    opts = [a for o in options for a in o]
    if command == "sample":
        argv = ["sample", str(path), "-n", n, "--out", out_path, *opts]
    elif command == "eval":
        argv = ["eval", str(path), "-n", n, "--json", *opts]
    else:
        argv = ["viz", str(path), "interpolate", "--out", out_path, *opts]
    capsys.readouterr()
    check(main(argv), capsys.readouterr().err)


def test_the_fuzz_saw_several_exit_codes():
    """Run last in file order (pytest-randomly may move it: then it only checks what ran before it)."""
    assert set(SEEN) <= DOCUMENTED
    print(f"CLI fuzz: {sum(SEEN.values())} invocations, exit codes {dict(sorted(SEEN.items()))}")
