"""`dgm train MODEL --help` shows that model's real defaults and settings; Ctrl-C while `dgm` starts (torch takes
seconds to import) exits 130 with one line, never a traceback."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from dgm.cli.main import main
from dgm.config import format_assignment_value, from_dict, leaves, to_dict
from dgm.models.registry import build_config, models
from dgm.train import TrainConfig


@pytest.mark.parametrize("name", ["vae", "dcgan", "glow"])
def test_train_model_help_shows_the_models_defaults(name, capsys):
    assert main(["train", name, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    train = from_dict(TrainConfig, models.get(name).train)
    assert "default: None" not in out
    assert f"examples per optimisation step (default: {train.batch_size})" in out
    assert f"learning rate (default: {train.lr})" in out
    assert f"noise (default: {train.seed})" in out
    if train.steps is not None:
        assert f"steps in total (default: {train.steps})" in out
    for key, value in leaves(to_dict(build_config(name))).items():  # every model setting, as --set takes it
        assert f"{key}={format_assignment_value(value)}" in out
    assert f"{name} training settings (--set train.KEY=VALUE)" in out
    assert f"precision={train.precision}" in out


def test_train_help_without_a_model_has_no_empty_defaults(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "default: None" not in out and "model settings" not in out


@pytest.mark.parametrize("command", ["eval", "sample", "viz", "data", "list", "compare"])
def test_every_subcommands_help_shows_only_real_defaults(command, capsys):
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "default: None" not in out and "default: False" not in out
    assert not re.search(r"\(default: [^()]*\) \(default: ", out)  # a stated default gets no second one
    if command == "eval":
        assert "importance samples for iwae (default: 1000)" in out  # a real default is still shown


def test_format_assignment_value_round_trips_through_set():
    from dgm.config import parse_assignment

    for value in [3, 0.5, 1e-4, True, None, "tanh", [200, 200], (0.5, 0.999), []]:
        text = format_assignment_value(value)
        back = parse_assignment(f"k={text}")[1]
        assert back == (list(value) if isinstance(value, tuple) else value), (value, text, back)


def test_import_of_the_console_script_is_light():
    # The console script imports dgm.cli.entry before its interrupt handling: nothing heavy may load there.
    code = "import sys, dgm.cli.entry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_ctrl_c_while_importing_torch_exits_130_without_a_traceback():
    # A KeyboardInterrupt raised exactly where Ctrl-C most often lands: while torch is being imported.
    code = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
from dgm.cli.entry import main
sys.exit(main(["train", "vae", "--steps", "1"]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 130, out.stderr
    assert out.stderr.strip() == "error: interrupted"


def test_an_interrupt_inside_exec_code_still_exits_130_under_python_m(tmp_path):
    # Ctrl-C often lands in code that exec() built (dataclasses while torch._dynamo imports); CPython then
    # marks the interrupt unhandled even though dgm catches it, and `python -m` used to die by SIGINT (-2).
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            exec('raise KeyboardInterrupt')\n"
        "sys.meta_path.insert(0, Interrupt())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "dgm", "train", "vae", "--steps", "1"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 130, out.stderr
    assert out.stderr.strip() == "error: interrupted"


@pytest.mark.parametrize("delay", [0.3, 1.0, 2.0])  # (before ~0.1 s Python itself is still starting)
def test_sigint_during_start_up(delay, tmp_path):
    """Whenever the first Ctrl-C lands (imports, parsing, data loading, training): exit 130, one line."""
    proc = subprocess.Popen([sys.executable, "-m", "dgm", "train", "vae", "--steps", "100000", "--no-progress",
                             "--out", str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's background job inherits SIGINT ignored; the user's terminal does not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # before training: "interrupted"; once it trains (a fast machine gets there within 2 s): stopped, checkpointed
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0] == "error: interrupted" or lines[0].startswith("error: stopped by signal 2 at step "), err


def test_a_second_ctrl_c_during_the_imports_interrupts_at_once():
    code = """
import os, signal, sys
class Interrupt:  # two Ctrl-C while torch is imported: the first is held, the second interrupts
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
sys.meta_path.insert(0, Interrupt())
from dgm.cli.entry import main
sys.exit(main(["train", "vae", "--steps", "1"]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 130 and out.stderr.strip() == "error: interrupted", out.stderr


def test_one_ctrl_c_during_the_imports_is_held_until_they_finish():
    code = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
sys.meta_path.insert(0, Interrupt())
from dgm.cli.entry import main
code = main(["train", "vae", "--steps", "1"])
print("torch" in sys.modules and hasattr(sys.modules["torch"], "nn"))
sys.exit(code)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 130 and out.stderr.strip() == "error: interrupted", out.stderr
    assert out.stdout.strip() == "True"  # the imports completed, nothing half-initialised
