"""Print (or write into README.md) the benchmark table from the measured records in benchmarks/results/.

    python benchmarks/table.py            # print the markdown table
    python benchmarks/table.py --write    # replace the table between the README's benchmark markers

Every record is a row (ordered by benchmark, variant, then date), earlier and less favourable runs included;
figures are never typed by hand. The commit column keeps the record's "+dirty" mark (the run's tree differed
from that commit). Side-by-side speed records (dgm against a peer) show the like-for-like ratio, both sides
in the same precision, as the value; ratios with dgm's speed options against the peer's fp32 ("each as its
users run it") appear only in the variant text.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
MIXED = "each as its users run it"  # label of ratios where dgm's speed options meet the peer's fp32


def all_records() -> list[dict]:
    """Every full-setting, non-skipped record of benchmarks/results/*.jsonl, none deduplicated."""
    records = []
    for path in sorted(RESULTS.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("skipped") or r.get("full_setting") is False:
                continue
            r.setdefault("benchmark", path.stem)
            records.append(r)
    return records


def sort_key(r: dict) -> tuple:
    variant = r.get("variant") or r.get("model") or r.get("name") or ""
    seed = r.get("seed") or 0
    seed = seed[0] if isinstance(seed, list) and seed else seed  # a record over several seeds lists them
    return (r.get("benchmark", ""), str(variant), int(seed or 0), str(r.get("date") or ""))


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return "" if v is None else str(v)


def short_commit(commit) -> str:
    """The 12-character hash, plus '+dirty' (or any other '+' mark) when the record has it."""
    head, plus, mark = str(commit or "").partition("+")
    return head[:12] + (plus + mark if plus else "")


def short_cpu(cpu) -> str:
    """'Intel(R) Xeon(R) Processor' -> 'Xeon', 'AMD EPYC 9B14 96-Core Processor' -> 'EPYC 9B14'."""
    s = re.sub(r"\((R|TM|tm)\)", "", str(cpu or ""))
    s = re.sub(r"@.*$|\b\d+-Core\b|\b(Intel|AMD|Processor|CPU)\b", "", s)
    return " ".join(s.split())


def _options_label(opts: dict) -> str:
    parts = [opts["precision"]] if opts.get("precision") else []
    parts += [name for key, name in (("channels_last", "channels-last"), ("compile", "compile")) if opts.get(key)]
    return " + ".join(parts) or "fp32"


def side_label(r: dict, side: str) -> str:
    """What dgm's side ran with, from the record's own fields: 'fp32', 'bf16 + channels-last', 'bf16 + compile'."""
    if side in (r.get("side_options") or {}):
        return _options_label(r["side_options"][side])
    setting = r.get(f"{side}_setting")
    if isinstance(setting, str):
        m = re.search(r"precision=['\"]?(\w+)", setting)
        return _options_label({"precision": m.group(1) if m else None,
                               "channels_last": "channels_last=True" in setting, "compile": "compile=True" in setting})
    if side == "dgm":
        return "fp32"
    rest = side[4:] if side.startswith("dgm_") else side  # older records without options: dgm_bf16, dgm_bf16_cl
    return _options_label({"precision": "bf16" if "bf16" in rest else None,
                           "channels_last": rest == "cl" or rest.endswith("_cl")}) if rest != "fast" else rest


def speed_row(r: dict) -> tuple[float | None, str] | None:
    """(like-for-like value, variant text) for a side-by-side speed record; None for any other record.

    vae_throughput_vs_pythae: ratio_<dgm side>_vs_<peer> fields; the like-for-like one is dgm's fp32 side
    against the peer the record compares with. gan_speed: the value is already dgm fp32 / the loop's fp32;
    <option>_speedup_vs_<peer> fields hold dgm with speed options against the same fp32 loop."""
    metric = r.get("metric", "")
    if "compared_with" in r:  # vae_throughput_vs_pythae
        peer = r["compared_with"]
        ratios = {k[len("ratio_"):]: v for k, v in r.items() if k.startswith("ratio_")}
        if "dgm_side" not in r:  # before dgm_fast existed: dgm fp32 only, keys ratio_vs_<peer>
            ratios = {f"dgm_{k}" if k.startswith("vs_") else k: v for k, v in ratios.items()}
        first = f"_vs_{peer}"  # the record's own peer first, then the others
        ratios = dict(sorted(ratios.items(), key=lambda kv: not kv[0].endswith(first)))
        like = {k: v for k, v in ratios.items() if k.startswith("dgm_vs_")}
        mixed = {k: v for k, v in ratios.items() if not k.startswith("dgm_vs_")}
        value = like.get(f"dgm_vs_{peer}", r.get("value") if r.get("dgm_side", "dgm") == "dgm" else None)
        others = ", ".join(f"vs {k[len('dgm_vs_'):]} {v}x" for k, v in like.items() if k != f"dgm_vs_{peer}")
        text = f"dgm vs {peer}, like for like (fp32 both)" + (f"; {others}" if others else "")
        by_side: dict[str, list[str]] = {}
        for k, v in mixed.items():
            side, _, other = k.partition("_vs_")
            by_side.setdefault(side, []).append(f"vs {other} {v}x")
        if by_side:
            text += f"; {MIXED}: " + "; ".join(
                f"{side} ({side_label(r, side)}) against fp32 {', '.join(v)}" for side, v in by_side.items())
            text = text.replace(" against fp32 vs ", " vs fp32 ")
        return value, text
    if "_speedup_vs_" in metric:  # gan_speed: <model>_speedup_vs_<peer>, value = dgm fp32 / peer fp32
        head, suffix = metric.split("_speedup_vs_", 1)
        key_end = f"_speedup_vs_{suffix}"
        mixed = [f"{side_label(r, 'dgm_' + k[: -len(key_end)])} {v}x" for k, v in r.items()
                 if k.endswith(key_end) and k != metric]
        text = f"{head}: dgm vs {suffix}, like for like (fp32 both)"
        if mixed:
            text += f"; {MIXED} (dgm's speed options against the peer's fp32): " + ", ".join(mixed)
        return r.get("value"), text
    return None


def table(records: list[dict]) -> str:
    head = ("| benchmark | variant | metric | value | target | budget / time | threads | cpu | torch | commit |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in sorted(records, key=sort_key):
        variant = r.get("variant") or r.get("model") or r.get("name") or ""
        value, met = r.get("value"), r.get("meets_target")
        speed = speed_row(r)
        if speed is not None:
            value, variant = speed
            if r.get("target") is not None and isinstance(value, (int, float)):
                met = value >= r["target"]  # judged on the like-for-like ratio shown
        if isinstance(r.get("seed"), list):
            variant += f" (seeds {', '.join(map(str, r['seed']))})"
        elif r.get("seed") and f"seed {r['seed']}" not in variant:  # seed 0 is every script's default
            variant += f" (seed {r['seed']})"
        if r.get("estimates_reliable") is False:  # an AIS estimate with too small an ESS: too good, by how much unknown
            bad = [str(x["seed"]) for x in r.get("per_seed", []) if x.get("ais_warning")]
            variant += (f" (AIS unreliable for seed {bad[0]}: its figure is too good and the mean with it)"
                        if len(bad) == 1 else f" (AIS unreliable for seeds {', '.join(bad)}: their figures are too "
                                              "good and the mean with them)")
        if r.get("reused_runs"):  # the same trained runs evaluated again (e.g. with more AIS temperatures)
            ais = (r.get("ais") or {}).get("steps")
            variant += (f" (runs trained at {short_commit(r['reused_runs'].get('trained_at_commit'))} re-evaluated"
                        + (f", AIS with {ais:,} inverse temperatures)" if ais else ")"))
        if r.get("contended"):  # a run the machine was not idle for, kept visible and marked (added by hand)
            variant += f" (contended: {r['contended']})"
        target = r.get("target")
        target_s = "" if target is None else f"{fmt(target)} ({'met' if met else 'not met'})" if met is not None \
            else fmt(target)
        took = r.get("train_s") or r.get("seconds") or r.get("budget_s")
        took_s = f"{fmt(took)} s" if took is not None else ""
        variant = variant.replace("|", "\\|")  # a '|' would split the markdown cell
        rows.append(f"| {r.get('benchmark', '')} | {variant} | {r.get('metric', '')} | {fmt(value)} | "
                    f"{target_s} | {took_s} | {r.get('threads', '')} | {short_cpu(r.get('cpu'))} | "
                    f"{r.get('torch', '')} | {short_commit(r.get('commit'))} |")
    return "\n".join([head, *rows]) if rows else "(no results yet)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="update README.md in place")
    args = p.parse_args(argv)
    text = table(all_records())
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
