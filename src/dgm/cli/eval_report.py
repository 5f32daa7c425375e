"""Formatting of evaluation records, and the reference table (real data and degenerate baselines)."""
from __future__ import annotations

from ..metrics.baselines import baselines
from ..metrics.evaluate import quality_record
from ..metrics.quality import QUALITY_METRICS
from ..runs import load_data


def format_record(record: dict) -> str:
    """A human-readable table of one evaluation record."""
    title = record.get("model", record.get("samples", "samples"))
    lines = [f"{title} vs {record['dataset']} ({record['split']})", f"{'metric':<20}{'value':>12}  note"]
    for name, m in record["metrics"].items():
        if isinstance(m, dict) and "nll_nats" in m:
            stderr = f" +- {m['stderr_nats']:.3f}" if "stderr_nats" in m else ""
            lines.append(f"{name + ' nll':<20}{m['nll_nats']:>12.3f}  nats{stderr}; {m['bits_per_dim']:.4f} bits/dim "
                         f"({m.get('kind', 'exact')}: {m['estimator']}, n={m['n']}, input {m['input_transform']})")
            if "nll_interval_nats" in m:  # an AIS estimate of log Z: the NLL at +-3 of its standard errors
                lo, hi = m["nll_interval_nats"]
                lines.append(f"{'':<32}  interval [{lo:.3f}, {hi:.3f}] nats (log Z = {m['log_z']:.3f} +- "
                             f"{m['log_z_stderr']:.3f}, 3 standard errors; AIS took {m['ais_seconds']} s)")
            if m.get("likelihood_note"):
                lines.append(f"{'':<32}  {m['likelihood_note']}")
        elif name == "active_units":
            lines.append(f"{'active units':<20}{m['count']:>12d}  of {m['of']} (Cov > {m['threshold']})")
        elif name == "reconstruction":
            lines.append(f"{'reconstruction MSE':<20}{m['mse']:>12.5f}  PSNR {m['psnr_db']:.2f} dB ([0, 1] pixels, "
                         f"n={m['n']})")
            if "codes_used" in m:
                used, perplexity = m["codes_used"], m["code_perplexity"]
                if isinstance(used, list):  # one entry per code map (VQ-VAE-2: top, bottom)
                    lines.append(f"{'codes used':<20}{' / '.join(f'{u:.4f}' for u in used):>12}  of each codebook; "
                                 f"perplexity {' / '.join(f'{q:.1f}' for q in perplexity)}")
                else:
                    lines.append(f"{'codes used':<20}{used:>12.4f}  of the codebook; perplexity {perplexity:.1f}")
        elif name == "quality":
            lines += quality_lines(m)
    if record.get("quality_skipped"):
        lines.append(f"note: {record['quality_skipped']}")
    lines.append(f"took {record['eval_s']} s")
    return "\n".join(lines)


def quality_lines(q: dict) -> list[str]:
    p = q["protocol"]
    note = f"{p['feature_net']}, {p['n_samples']} samples vs {p['reference']} ({p['n_reference']})"
    note += f", {p['samples']}" if "samples" in p else ""
    out = []
    if "fid" in q:
        out.append(f"{'FID':<20}{q['fid']:>12.3f}  {note}")
    if "kid" in q:
        out.append(f"{'KID':<20}{q['kid']['kid_mean']:>12.5f}  +- {q['kid']['kid_std']:.5f} "
                   f"(subsets of {q['kid']['subset_size']})")
    if "is" in q:
        out.append(f"{'Inception Score':<20}{q['is']['is_mean']:>12.3f}  +- {q['is']['is_std']:.3f} "
                   f"({q['is']['splits']} splits)")
    if "pr" in q:
        for k in ("precision", "recall", "density", "coverage"):
            out.append(f"{k:<20}{q['pr'][k]:>12.4f}  k={q['pr']['k']}")
    if "classes" in q:
        c = q["classes"]
        out.append(f"{'modes covered':<20}{c['modes_covered']:>12d}  of {c['classes']}; class share "
                   f"{c['min_share']:.3f}..{c['max_share']:.3f}")
    if "label_agreement" in q:
        out.append(f"{'label agreement':<20}{q['label_agreement']:>12.4f}  classified as the label asked for")
    return out


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
