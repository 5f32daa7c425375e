"""The README's front page cannot drift from the code: its Python tour runs (with the bundled data and tiny
settings), and every `dgm` command it shows parses with today's CLI (subcommands, flags, choices)."""
import re
import shlex
from pathlib import Path

import pytest

from dgm.cli.main import build_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def dgm_commands() -> list[list[str]]:
    """Every `dgm ...` line of the README's shell blocks (continuation lines joined, comments dropped)."""
    commands = []
    for block in blocks("(?:bash|sh)"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                part = part.split(" #")[0].strip()
                if part.startswith("dgm "):
                    commands.append(shlex.split(part)[1:])
    return commands


def test_the_readme_shows_commands():
    assert len(dgm_commands()) >= 15 and len(blocks("python")) >= 1


@pytest.mark.parametrize("argv", dgm_commands(), ids=lambda a: " ".join(a)[:60])
def test_every_readme_command_parses(argv, capsys):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        if e.code == 0 and "--help" in argv:  # printed the help, as it should
            assert "usage: dgm" in capsys.readouterr().out
            return
        pytest.fail(f"`dgm {' '.join(argv)}` does not parse (exit {e.code}): {capsys.readouterr().err.strip()}")
    assert args.command == argv[0] and callable(args.run)


def test_the_python_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = blocks("python")[0]
    tiny = (code.replace('"mnist"', '"mnist-10k"').replace('data_dir="~/data"', "data_dir=None")
            .replace("steps=20_000", "steps=2").replace("k=5000", "k=2").replace("latent_dim=50", "latent_dim=2"))
    assert tiny != code
    namespace: dict = {}
    exec(compile(tiny, "README.md", "exec"), namespace)
    x = namespace["x"]
    assert x.shape == (64, 1, 28, 28) and not x.requires_grad
    assert namespace["nll"]["nll_nats"] > 0 and namespace["ckpt"] is not None
