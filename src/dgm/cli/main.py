"""``dgm``: the entry point; each subcommand lives in its own module and registers its parser."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable

from .. import __version__
from ..errors import DgmError
from .entry import interrupted
from . import classifier_cmd, compare_cmd, data_cmd, eval_cmd, list_cmd, report_cmd, sample_cmd, serve_cmd, train_cmd, viz_cmd

COMMANDS = (train_cmd, classifier_cmd, sample_cmd, eval_cmd, compare_cmd, report_cmd, serve_cmd, viz_cmd, list_cmd, data_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgm",
        description="Deep generative models: train, sample and evaluate them on your own data.",
        epilog="Examples:\n  dgm train vae                      # bundled MNIST, offline\n"
               "  dgm train vae --data mnist --steps 20000 --set model.latent_dim=20\n"
               "  dgm sample runs/vae-mnist-10k-... -n 64 --out grid.png\n"
               "  dgm eval runs/vae-mnist-10k-... --json\n"
               "Exit codes: 0 ok, 1 unexpected, 2 usage/config, 3 data, 4 checkpoint, 5 divergence, "
               "130 SIGINT, 143 SIGTERM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dgm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    for command in sub.choices.values():  # -v after the subcommand too (`dgm train vae -v`)
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="debug logging and tracebacks")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as e:  # usage errors (exit 2, message printed) and --help / --version (exit 0)
        return int(e.code or 0) if isinstance(e.code, (int, type(None))) else 2
    except KeyboardInterrupt:  # Ctrl-C while the parsers (and the models they list) load
        return interrupted()
    verbose = args.verbose or bool(os.environ.get("DGM_DEBUG"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    if not args.command:
        parser.print_help()
        return 2
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return int(run(args) or 0)
    except DgmError as e:
        if verbose:
            logging.exception("error")
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return interrupted()
    except MemoryError:
        print(f"error: out of memory (peak {peak_memory()}); lower --batch-size", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - one line, no traceback, unless asked for
        if verbose:
            raise
        msg = str(e).splitlines()[0] if str(e) else ""
        if "out of memory" in msg.lower():
            print(f"error: out of memory (peak {peak_memory()}: {msg}); lower --batch-size; the last "
                  "checkpoint is intact", file=sys.stderr)
        else:
            print(f"error: unexpected {type(e).__name__}: {msg} (run with -v for the traceback)", file=sys.stderr)
        return 1


def peak_memory() -> str:
    """Peak memory of this process: GPU allocator peak when CUDA is in use, else peak resident set size."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB on the GPU"
    except Exception:  # noqa: BLE001 - reporting must never fail
        pass
    try:
        import resource

        return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB resident"
    except Exception:  # noqa: BLE001
        return "unknown"
