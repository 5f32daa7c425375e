"""``dgm compare RUN_DIR ...``: one table across runs from their eval/metrics.json (markdown or CSV)."""
from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from ..errors import ConfigError
from ..metrics.summary import headline


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare evaluated runs in one table",
                       description="Read RUN_DIR/eval/metrics.json of each run (run `dgm eval` first) and print "
                       "one table: markdown by default, CSV with --csv.")
    p.add_argument("runs", nargs="+")
    p.add_argument("--csv", action="store_true", help="CSV instead of markdown")
    p.set_defaults(run=run)


def flatten(record: dict) -> dict[str, object]:
    """The headline numbers of one evaluation record as a flat row."""
    return {"run": Path(record.get("run", "")).name, "model": record.get("model", ""),
            "dataset": record.get("dataset", ""), **headline(record)}


def run(args: argparse.Namespace) -> int:
    rows = []
    for r in args.runs:
        path = Path(r) / "eval" / "metrics.json"
        if not path.is_file():
            raise ConfigError(f"{r} has no eval/metrics.json; run `dgm eval {r}` first")
        rows.append(flatten(json.loads(path.read_text())))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if args.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
        print(buf.getvalue(), end="")
    else:
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return 0
