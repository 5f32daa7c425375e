"""Formatting of evaluation records, and the reference table (real data and degenerate baselines)."""
from __future__ import annotations

from ..metrics.baselines import baselines
from ..metrics.evaluate import quality_record
from ..metrics.quality import QUALITY_METRICS
from ..metrics.summary import record_rows
from ..runs import load_data


def format_record(record: dict) -> str:
    """A human-readable table of one evaluation record."""
    title = record.get("model", record.get("samples", "samples"))
    lines = [f"{title} vs {record['dataset']} ({record['split']})", f"{'metric':<20}{'value':>12}  note"]
    lines += [f"{metric:<20}{value:>12}  {note}" for metric, value, note in record_rows(record)]
    if record.get("quality_skipped"):
        lines.append(f"note: {record['quality_skipped']}")
    lines.append(f"took {record['eval_s']} s")
    return "\n".join(lines)


def reference_table(dataset: str, net, data_dir, n: int, seed: int, use_cache: bool) -> dict:
    """Quality metrics of real train images and degenerate baselines against the test split."""
    train = load_data(dataset, "train", data_dir)
    test = load_data(dataset, "test", data_dir)
    n = min(n, len(test), len(train))
    rows = {}
    for name, make in baselines(train, n, seed).items():
        rows[name] = quality_record(make(), test, net, list(QUALITY_METRICS), seed, use_cache)
    header = ("| samples | FID | KID | IS | precision | recall | density | coverage | modes |\n"
              "|---|---|---|---|---|---|---|---|---|")
    body = [f"| {name} | {r['fid']:.2f} | {r['kid']['kid_mean']:.4f} | {r['is']['is_mean']:.2f} | "
            f"{r['pr']['precision']:.3f} | {r['pr']['recall']:.3f} | {r['pr']['density']:.3f} | "
            f"{r['pr']['coverage']:.3f} | {r['classes']['modes_covered']}/{r['classes']['classes']} |"
            for name, r in rows.items()]
    caption = (f"{dataset}: {n} samples per row against the {len(test)} test images; features {net.name}")
    return {"dataset": dataset, "feature_net": net.name, "n": n, "rows": rows,
            "markdown": "\n".join([caption, "", header, *body])}
