"""``dgm serve [RUNS_DIR] [--port P] [--host H]``: the local web app over a runs folder (serve/app.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from .common import ShownDefaultsFormatter


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="a local web app: runs, live samples, interpolations, reports",
                       description="Serve RUNS_DIR (default runs/) on http://127.0.0.1:PORT: the runs with their "
                       "status and metrics, refreshed while they train; a run's live controls (samples with a seed, "
                       "the model's sampling options and a class; interpolation and latent sliders); its report. "
                       "Needs Flask: pip install 'dgm[serve]'.", formatter_class=ShownDefaultsFormatter)
    p.add_argument("runs_dir", nargs="?", default="runs")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind; 0.0.0.0 makes the app reachable from other machines (a warning)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..serve.app import make_server

    root = Path(args.runs_dir)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder; pass the folder your runs are in (dgm train --out DIR/NAME)")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: use 0..65535")
    if args.host in ("0.0.0.0", "::"):
        print(f"dgm serve: warning: --host {args.host} makes the app (and the runs' files) reachable from other "
              "machines; it has no authentication", file=sys.stderr)
    try:
        server = make_server(root, args.host, args.port)
    except OSError as e:
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({e.strerror}); choose another --port") from None
    host, port = server.server_address[:2]
    print(f"dgm serve: {root} on http://{'localhost' if host == '127.0.0.1' else host}:{port} (Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
