"""Print (or write into README.md) the benchmark table from the measured records in benchmarks/results/.

    python benchmarks/table.py            # print the markdown table
    python benchmarks/table.py --write    # replace the table between the README's benchmark markers

The newest record of each (benchmark, variant) is shown; figures are never typed by hand.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
VARIANT_KEYS = ("model", "name", "dataset", "variant", "seed")  # records that differ in any of these are rows


def latest_records() -> list[dict]:
    newest: dict[tuple, dict] = {}
    for path in sorted(RESULTS.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("skipped") or r.get("full_setting") is False:
                continue
            key = (r.get("benchmark", path.stem), *(str(r.get(k, "")) for k in VARIANT_KEYS))
            newest[key] = r
    return list(newest.values())


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return "" if v is None else str(v)


def table(records: list[dict]) -> str:
    head = ("| benchmark | variant | metric | value | target | budget / time | threads | torch | commit |\n"
            "|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in sorted(records, key=lambda r: (r.get("benchmark", ""), fmt(r.get("model", r.get("name", ""))))):
        variant = r.get("variant") or r.get("model") or r.get("name") or ""
        metric = r.get("metric", "")
        if "_speedup" in metric:  # side-by-side speed records with optional sides: list their ratios too
            suffix = metric[metric.index("_speedup"):]
            others = ", ".join(f"{k[: -len(suffix)]} {v}x" for k, v in r.items() if k.endswith(suffix) and k != metric)
            variant = f"{variant or metric[: metric.index('_speedup')]} ({others})" if others else variant
        if r.get("seed"):  # seed 0 is every script's default
            variant += f" (seed {r['seed']})"
        if r.get("dgm_side"):  # side-by-side speed records: say who was compared with whom
            others = ", ".join(f"{k[6:]} {v}x" for k, v in r.items() if k.startswith("ratio_"))
            variant = f"{r['dgm_side']} vs {r.get('compared_with')} ({others})"
        target = r.get("target")
        met = r.get("meets_target")
        target_s = "" if target is None else f"{fmt(target)} ({'met' if met else 'not met'})" if met is not None \
            else fmt(target)
        took = r.get("train_s") or r.get("seconds") or r.get("budget_s")
        rows.append(f"| {r.get('benchmark', '')} | {variant} | {r.get('metric', '')} | {fmt(r.get('value'))} | "
                    f"{target_s} | {fmt(took)} s | {r.get('threads', '')} | {r.get('torch', '')} | "
                    f"{str(r.get('commit', ''))[:8]} |")
    return "\n".join([head, *rows]) if rows else "(no results yet)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="update README.md in place")
    args = p.parse_args()
    text = table(latest_records())
    if not args.write:
        print(text)
        return 0
    readme = REPO / "README.md"
    content = readme.read_text()
    if START not in content or END not in content:
        print(f"README.md lacks the {START} / {END} markers", file=sys.stderr)
        return 2
    before, rest = content.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{START}\n{text}\n{END}{after}")
    print(f"wrote {len(text.splitlines()) - 2} rows into README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
