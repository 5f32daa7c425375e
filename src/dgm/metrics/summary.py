"""An evaluation record (``dgm eval``'s eval/metrics.json) as rows of metric, value and protocol: what
``dgm eval`` prints and ``dgm report`` shows."""
from __future__ import annotations


def record_rows(record: dict) -> list[tuple[str, str, str]]:
    """The rows (metric, value, note: the protocol) of one evaluation record; a row with an empty metric
    continues the note of the row above."""
    rows: list[tuple[str, str, str]] = []
    for name, m in record["metrics"].items():
        if isinstance(m, dict) and "nll_nats" in m:
            stderr = f" +- {m['stderr_nats']:.3f}" if "stderr_nats" in m else ""
            rows.append((f"{name} nll", f"{m['nll_nats']:.3f}", f"nats{stderr}; {m['bits_per_dim']:.4f} bits/dim "
                         f"({m.get('kind', 'exact')}: {m['estimator']}, n={m['n']}, input {m['input_transform']})"))
            if "nll_interval_nats" in m:  # an AIS estimate of log Z: the NLL at +-3 of its standard errors
                lo, hi = m["nll_interval_nats"]
                rows.append(("", "", f"interval [{lo:.3f}, {hi:.3f}] nats (log Z = {m['log_z']:.3f} +- "
                             f"{m['log_z_stderr']:.3f}, 3 standard errors; AIS took {m['ais_seconds']} s)"))
            if m.get("ais_warning"):
                rows.append(("", "", f"WARNING: {m['ais_warning']}"))
            if m.get("likelihood_note"):
                rows.append(("", "", m["likelihood_note"]))
        elif name == "active_units":
            layers = "" if "per_layer" not in m else "; per layer " + ", ".join(
                f"{a}/{n}" for a, n in zip(m["per_layer"], m["layer_sizes"]))
            rows.append(("active units", f"{m['count']:d}", f"of {m['of']} (Cov > {m['threshold']}){layers}"))
        elif name == "kl":
            rows.append(("KL(q || prior)", f"{m['kl_nats']:.3f}", f"nats per example, +- {m['stderr']:.3f} "
                         f"(n={m['n']}); near 0: the latents carry nothing (posterior collapse)"))
        elif name == "reconstruction":
            rows.append(("reconstruction MSE", f"{m['mse']:.5f}", f"PSNR {m['psnr_db']:.2f} dB ([0, 1] pixels, "
                         f"n={m['n']})"))
            if "codes_used" in m:
                used, perplexity = m["codes_used"], m["code_perplexity"]
                if isinstance(used, list):  # one entry per code map (VQ-VAE-2: top, bottom)
                    rows.append(("codes used", " / ".join(f"{u:.4f}" for u in used), "of each codebook; "
                                 f"perplexity {' / '.join(f'{q:.1f}' for q in perplexity)}"))
                else:
                    rows.append(("codes used", f"{used:.4f}", f"of the codebook; perplexity {perplexity:.1f}"))
        elif name == "quality":
            rows += quality_rows(m)
        elif name == "quality_reconstructions":
            rows += [(f"{metric} (recon.)", value, note) for metric, value, note in quality_rows(m)]
        elif name == "disentanglement":
            rows += disentanglement_rows(m)
        elif name == "ppl":
            for space, r in m.items():
                rows.append((f"PPL ({space.upper()})", f"{r['value']:.2f}", f"perceptual path length, {r['kept']} of "
                             f"{r['pairs']} pairs (1-99th percentiles), eps {r['epsilon']}; {r['distance']}"))
        elif name == "classification":
            rows.append(("classification error", f"{m['error']:.4f}", f"accuracy {m['accuracy']:.4f} on {m['n']} "
                         f"{m['split']} examples"))
    return rows


def disentanglement_rows(d: dict) -> list[tuple[str, str, str]]:
    """(metric, value, note) rows of a disentanglement record (dSprites' factors)."""
    p = d["protocol"]
    factors = f"factors {', '.join(p['factors'])}"
    return [
        ("FactorVAE metric", f"{d['factor_vae']['eval_accuracy']:.4f}",
         f"majority vote, {p['votes'][0]} + {p['votes'][1]} votes of 64; {d['factor_vae']['active_codes']} active "
         f"codes; chance {1 / len(p['factors']):.2f}"),
        ("beta-VAE metric", f"{d['beta_vae']['eval_accuracy']:.4f}", "linear classifier on mean |z1 - z2| of 64 pairs"),
        ("MIG", f"{d['mig']['mig']:.4f}", f"{p['mig_samples']} codes, {p['mig_bins']} bins; per factor "
         f"{' / '.join(f'{x:.3f}' for x in d['mig']['per_factor'])}"),
        ("DCI disentanglement", f"{d['dci']['disentanglement']:.4f}",
         f"completeness {d['dci']['completeness']:.4f}, informativeness {d['dci']['informativeness']:.4f} "
         f"({d['dci']['importance']} importance, {p['dci_samples'][0]} + {p['dci_samples'][1]} codes); {factors}"),
    ]


def quality_rows(q: dict) -> list[tuple[str, str, str]]:
    """(metric, value, note) rows of a sample-quality record."""
    p = q["protocol"]
    note = f"{p['feature_net']}, {p['n_samples']} samples vs {p['reference']} ({p['n_reference']})"
    note += f", {p['samples']}" if "samples" in p else ""
    out = []
    if "fid" in q:
        out.append(("FID", f"{q['fid']:.3f}", note))
    if "kid" in q:
        out.append(("KID", f"{q['kid']['kid_mean']:.5f}", f"+- {q['kid']['kid_std']:.5f} "
                    f"(subsets of {q['kid']['subset_size']})"))
    if "is" in q:
        out.append(("Inception Score", f"{q['is']['is_mean']:.3f}", f"+- {q['is']['is_std']:.3f} "
                    f"({q['is']['splits']} splits)"))
    if "pr" in q:
        for k in ("precision", "recall", "density", "coverage"):
            out.append((k, f"{q['pr'][k]:.4f}", f"k={q['pr']['k']}"))
    if "classes" in q:
        c = q["classes"]
        out.append(("modes covered", f"{c['modes_covered']:d}", f"of {c['classes']}; class share "
                    f"{c['min_share']:.3f}..{c['max_share']:.3f}"))
    if "label_agreement" in q:
        out.append(("label agreement", f"{q['label_agreement']:.4f}", "classified as the label asked for"))
    return out


def headline(record: dict) -> dict[str, object]:
    """The headline numbers of one evaluation record as one flat row (``dgm compare``'s columns)."""
    row: dict[str, object] = {}
    for name, m in record.get("metrics", {}).items():
        if isinstance(m, dict) and "nll_nats" in m:
            row[f"{name} nats"] = round(m["nll_nats"], 3)
            row[f"{name} bits/dim"] = round(m["bits_per_dim"], 4)
        elif name == "active_units":
            row["active units"] = m["count"]
        elif name == "classification":
            row["error"] = round(m["error"], 4)
        elif name == "disentanglement":
            row["FactorVAE metric"] = round(m["factor_vae"]["eval_accuracy"], 4)
            row["MIG"] = round(m["mig"]["mig"], 4)
        elif name == "quality":
            row["features"] = m["protocol"]["feature_net"]
            for key, path in (("FID", ("fid",)), ("KID", ("kid", "kid_mean")), ("IS", ("is", "is_mean")),
                              ("precision", ("pr", "precision")), ("recall", ("pr", "recall")),
                              ("modes", ("classes", "modes_covered"))):
                v = m
                for part in path:
                    v = v.get(part) if isinstance(v, dict) else None
                if v is not None:
                    row[key] = round(v, 4) if isinstance(v, float) else v
        elif name == "quality_reconstructions" and "fid" in m:
            row["FID (recon.)"] = round(m["fid"], 4)
    return row
