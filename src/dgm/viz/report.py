"""``dgm report``: one self-contained HTML page of one or several runs (every image embedded as a data URI, the
curves inline SVG, no script and no network needed to open it).

A run's section: the resolved config; a chart per logged term (exponential smoothing, log scale when the
values span more than a factor of 20) and the validation curve; the evaluation table with each metric's
protocol (eval/metrics.json, from ``dgm eval``); the sample grids written over training as a strip; then, drawn
from the checkpoint: interpolations and latent traversals (latent models and GANs), a row per class
(conditional models), the sampling trajectory (diffusion's denoising, an energy model's Gibbs chain) and the
nearest training neighbours of samples. What a section leaves out is listed with the reason (no eval yet: the
command to run; no training data: the flag to pass). Several runs add a comparison table and the terms they
share on common axes.
"""
from __future__ import annotations

import base64
import datetime
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from ..errors import ConfigError, DgmError
from ..metrics.summary import record_rows
from .grids import grid_png
from .svg import line_chart, smooth

BOOKKEEPING = {"step", "epoch", "train_s", "eval_s", "nonfinite_skipped", "val/n"}
STRIP = 8  # sample grids shown over training (evenly spread, the final one last)


@dataclass
class Picture:
    """One embedded image: a title, what it shows, and its PNG bytes."""

    title: str
    caption: str
    png: bytes


@dataclass
class RunView:
    """What a run directory holds for the report."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    evaluation: dict[str, Any] | None
    grids: list[tuple[str, Path]]  # (label, PNG file) over training, the final grid last
    skipped_lines: int = 0
    pictures: list[Picture] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    @property
    def dataset(self) -> str:
        data = self.config.get("data", {})
        return str(data.get("name", "?")) if isinstance(data, dict) else str(data)


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def expand_runs(paths: list[str | Path]) -> list[Path]:
    """Run directories from the arguments: a run itself, or a folder whose subfolders are runs (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if is_run_dir(p):
            out.append(p)
        elif p.is_dir() and (runs := sorted(d for d in p.iterdir() if d.is_dir() and is_run_dir(d))):
            out += runs
        else:
            raise ConfigError(f"{p} is not a run directory (no config.yaml) and holds none; pass directories "
                              "that `dgm train` wrote (or their parent, e.g. runs/)")
    return out


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON lines of metrics.jsonl and how many were unreadable (a line cut by a kill, say)."""
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    return records, bad


def grid_step(path: Path) -> float:
    """The training step of samples/step-N.png (final.png sorts last)."""
    stem = path.stem
    return float(stem[5:]) if stem.startswith("step-") and stem[5:].isdigit() else math.inf


def read_run(path: str | Path) -> RunView:
    """A run directory's config, metrics, evaluation and sample grids (nothing loaded from the checkpoint)."""
    path = Path(path)
    try:
        config = yaml.safe_load((path / "config.yaml").read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}/config.yaml is unreadable ({str(e).splitlines()[0]}); is {path} a run "
                          "directory `dgm train` wrote?") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}/config.yaml is not the mapping `dgm train` writes")
    metrics, bad = read_metrics(path / "metrics.jsonl")
    evaluation = None
    eval_path = path / "eval" / "metrics.json"
    view = RunView(path, config, metrics, None, [], bad)
    if eval_path.is_file():
        try:
            evaluation = json.loads(eval_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            view.left_out.append(f"evaluation: {eval_path} is unreadable; run `dgm eval {path}` again")
    else:
        view.left_out.append(f"evaluation: none yet; run `dgm eval {path}`")
    view.evaluation = evaluation if isinstance(evaluation, dict) else None
    files = sorted((path / "samples").glob("*.png"), key=grid_step) if (path / "samples").is_dir() else []
    if len(files) > STRIP:  # evenly spread, keeping the last
        idx = sorted({round(i * (len(files) - 1) / (STRIP - 1)) for i in range(STRIP)})
        files = [files[i] for i in idx]
    view.grids = [(f"step {int(grid_step(f))}" if math.isfinite(grid_step(f)) else "final", f) for f in files]
    if not files:
        view.left_out.append("sample grids over training: none in samples/ (a run without a run directory's "
                             "grids, or one stopped before its first)")
    return view


def curves(metrics: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Every numeric logged term as (step, value) points: training means, lr per optimizer group
    ("lr/<group>") and the validation metric ("val/<name>")."""
    out: dict[str, list[tuple[float, float]]] = {}
    for rec in metrics:
        step = rec.get("step")
        if not isinstance(step, (int, float)):
            continue
        for k, v in rec.items():
            if k in BOOKKEEPING:
                continue
            if isinstance(v, dict):
                for g, x in v.items():
                    if isinstance(x, (int, float)) and not isinstance(x, bool):
                        out.setdefault(f"{k}/{g}", []).append((float(step), float(x)))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out.setdefault(k, []).append((float(step), float(v)))
    return out


def smoothed(points: list[tuple[float, float]], weight: float) -> list[tuple[float, float]]:
    return list(zip((x for x, _ in points), smooth([y for _, y in points], weight)))


# --- pictures drawn from the checkpoint ---------------------------------------------------------------------
def draw_pictures(view: RunView, data_dir: str | Path | None, seed: int = 0) -> None:
    """Add the checkpoint's pictures to ``view`` (each one that cannot be drawn goes to ``left_out`` with why)."""
    from ..models.base import LatentGenerator, LatentModel
    from ..runs import default_split, load_run, load_run_data, sample_images
    from .generator_latent import interpolate_drawn, traverse_codes
    from .latent import interpolate, traverse
    from .neighbours import neighbour_grid

    try:
        model, ckpt = load_run(view.path)
    except DgmError as e:
        view.left_out.append(f"pictures from the checkpoint: {e}")
        return
    if len(model.info.shape) != 3:
        view.left_out.append("pictures from the checkpoint: the model generates points, not images (see the "
                             "sample scatter above)")
        return
    g = torch.Generator().manual_seed(seed)
    classes = int(getattr(model, "num_classes", 0) or 0)

    def attempt(what: str, make) -> None:
        try:
            pic = make()
        except DgmError as e:
            view.left_out.append(f"{what}: {e}")
        except Exception as e:  # noqa: BLE001 - one picture failing must not lose the report
            view.left_out.append(f"{what}: failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        else:
            if pic is not None:
                view.pictures.append(pic)

    test_data: list = []

    def test_images():
        if not test_data:
            test_data.append(load_run_data(ckpt, default_split(ckpt.config["data"]["name"]), data_dir))
        return test_data[0]

    def latent_pictures() -> None:
        if isinstance(model, LatentModel):
            data = test_images()
            idx = torch.randperm(len(data), generator=g)[:16]
            with torch.no_grad():
                z = model.encode(model.prepare(data.data[idx], g, train=False).to(model.device))
            attempt("interpolations", lambda: Picture(
                "Interpolations", "between the encodings of test images (a pair per row)",
                grid_png(interpolate(model, z[:8], z[8:16], 10).cpu(), nrow=10)))
            dims = list(range(min(8, model.latent_dim)))
            attempt("latent traversals", lambda: Picture(
                "Latent traversals", f"latent dims {dims[0]}-{dims[-1]} of one test image's encoding from -3 to 3 "
                "prior standard deviations (a dim per row)",
                grid_png(traverse(model, z[0], dims, 3.0, 10).cpu(), nrow=10)))
        elif isinstance(model, LatentGenerator):
            attempt("interpolations", lambda: Picture(
                "Interpolations", "between drawn latents (a pair per row)",
                grid_png(interpolate_drawn(model, 8, 10, False, g).cpu(), nrow=10)))

            def traversal():
                images, nrow = traverse_codes(model, 8, 10, 2.0 if getattr(model, "continuous", 0) else 3.0, 0, g)
                return Picture("Latent traversals", "one latent input varied per row", grid_png(images.cpu(), nrow))
            attempt("latent traversals", traversal)
        else:
            view.left_out.append(f"interpolations and traversals: {view.model} has no latent space to walk")

    attempt("interpolations and traversals", latent_pictures)
    if classes:
        def class_rows():
            labels = torch.arange(classes).repeat_interleave(8)
            images = sample_images(model, len(labels), seed=seed, labels=labels)
            return Picture("Class-conditional samples", f"a row per class 0-{classes - 1}", grid_png(images, nrow=8))
        attempt("class-conditional rows", class_rows)
    else:
        view.left_out.append("class-conditional rows: the model is not class-conditional")
    if hasattr(model, "trajectory"):
        def trajectory():
            frames, times = model.trajectory(4, 8, generator=torch.Generator().manual_seed(seed))
            grid = grid_png(frames.transpose(0, 1).reshape(-1, *frames.shape[2:]).cpu(), nrow=len(times))
            return Picture("Sampling trajectory", f"a row per sample, frames at t = {', '.join(map(str, times))} "
                           "(from the start of the chain to the sample)", grid)
        attempt("sampling trajectory", trajectory)

    def neighbours():
        train = load_run_data(ckpt, "train", data_dir)
        samples = sample_images(model, 8, seed=seed)
        images, dist = neighbour_grid(samples, train.data, k=7, kind=train.info.kind)
        return Picture("Nearest training neighbours", "each sample (first column) beside its 7 nearest training "
                       f"images in pixel space (L2 distance to the nearest: "
                       f"{', '.join(f'{d:.2f}' for d in dist[:, 0].tolist())})", grid_png(images, nrow=8))
    attempt("nearest training neighbours", neighbours)


# --- HTML -----------------------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: 3px 8px;
  text-align: left; vertical-align: top; font-size: .9em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; } .strip { display: flex; gap: 10px; overflow-x: auto; }
figure { margin: 0 0 1em 0; } figcaption { font-size: .85em; color: #555; }
img { image-rendering: pixelated; max-width: 100%; } pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
.left-out li { color: #7a4d00; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(title: str, caption: str, png: bytes, cls: str = "") -> str:
    return (f'<figure class="{cls}"><img alt="{esc(title)}" src="{data_uri(png)}"><figcaption><b>{esc(title)}'
            f"</b>{': ' + esc(caption) if caption else ''}</figcaption></figure>")


def eval_table(evaluation: dict[str, Any]) -> str:
    """The evaluation's metrics, values and protocols; the whole record below it."""
    try:
        rows = record_rows(evaluation)
    except (KeyError, TypeError, ValueError) as e:
        rows = [("(unreadable)", "", f"the record lacks a field this version reads: {e}")]
    head = (f"<p>{esc(evaluation.get('dataset', '?'))} ({esc(evaluation.get('split', '?'))}), checkpoint "
            f"{esc(Path(str(evaluation.get('checkpoint', '?'))).name)}, seed {esc(evaluation.get('seed', '?'))}, "
            f"took {esc(evaluation.get('eval_s', '?'))} s</p>")
    body = "".join(f'<tr><td>{esc(m)}</td><td class="num">{esc(v)}</td><td>{esc(n)}</td></tr>' for m, v, n in rows)
    raw = esc(json.dumps(evaluation, indent=2))
    return (head + f"<table><tr><th>metric</th><th>value</th><th>protocol</th></tr>{body}</table>"
            f"<details><summary>the whole evaluation record</summary><pre>{raw}</pre></details>")


def run_section(view: RunView, smoothing: float) -> str:
    parts = [f'<section id="run-{esc(view.name)}"><h2>{esc(view.name)}</h2>',
             f"<p>{esc(view.model)} on {esc(view.dataset)} &middot; {esc(view.path)}</p>"]
    parts.append("<h3>Configuration</h3><details open><summary>the resolved config (config.yaml)</summary>"
                 f"<pre>{esc(yaml.safe_dump(view.config, sort_keys=False))}</pre></details>")
    parts.append("<h3>Training curves</h3>")
    series = curves(view.metrics)
    if series:
        charts = []
        for term, pts in series.items():
            raw_only = not smoothing or len(pts) < 3 or term.startswith(("val/", "lr/"))
            shown = {term: pts} if raw_only else {f"{term} (raw)": pts, f"{term} (smoothed)": smoothed(pts, smoothing)}
            charts.append(line_chart(shown, term))
        how = f"with exponential smoothing {smoothing:g} beside the raw means" if smoothing else "unsmoothed"
        parts.append(f"<p>{len(series)} logged terms against the step: training means {how}; validation and "
                     f"learning rates as logged.</p><div class=\"charts\">{''.join(charts)}</div>")
        if view.skipped_lines:
            parts.append(f"<p>{view.skipped_lines} unreadable line(s) of metrics.jsonl skipped.</p>")
    else:
        view.left_out.append("training curves: metrics.jsonl has no records yet")
    parts.append("<h3>Evaluation</h3>")
    parts.append(eval_table(view.evaluation) if view.evaluation else "<p>No evaluation yet.</p>")
    if view.grids:
        parts.append("<h3>Samples over training</h3><div class=\"strip\">")
        parts += [figure(label, "", f.read_bytes()) for label, f in view.grids]
        parts.append("</div>")
    if view.pictures:
        parts.append("<h3>Pictures from the checkpoint</h3>")
        parts += [figure(p.title, p.caption, p.png) for p in view.pictures]
    if view.left_out:
        items = "".join(f"<li>{esc(x)}</li>" for x in view.left_out)
        parts.append(f'<h3>Left out</h3><ul class="left-out">{items}</ul>')
    parts.append("</section>")
    return "".join(parts)


def comparison(views: list[RunView]) -> str:
    """Across runs: one row per run (its last logged step and evaluation's headline values), and the logged
    terms they share on common axes."""
    from ..metrics.summary import headline

    rows = []
    for v in views:
        last = v.metrics[-1] if v.metrics else {}
        rows.append({"run": v.name, "model": v.model, "data": v.dataset, "step": last.get("step", ""),
                     "train s": last.get("train_s", ""), **(headline(v.evaluation) if v.evaluation else {})})
    columns = list(dict.fromkeys(k for r in rows for k in r))
    table = "<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{esc(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows) + "</table>"
    per_run = [curves(v.metrics) for v in views]
    shared = [t for t in per_run[0] if all(t in c for c in per_run[1:])] if per_run else []
    charts = [line_chart({v.name: c[t] for v, c in zip(views, per_run)}, t) for t in shared]
    return (f"<section id=\"comparison\"><h2>Comparison of {len(views)} runs</h2>{table}"
            f"<p>Terms logged by every run, on shared axes (unsmoothed).</p><div class=\"charts\">{''.join(charts)}"
            "</div></section>")


def render(views: list[RunView], smoothing: float = 0.6) -> str:
    """The whole page."""
    from .. import __version__

    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    title = views[0].name if len(views) == 1 else f"{len(views)} runs"
    body = [f"<h1>dgm report: {esc(title)}</h1><p>dgm {esc(__version__)}, written {esc(when)}.</p>"]
    if len(views) > 1:
        body.append("<nav><ul>" + "".join(f'<li><a href="#run-{esc(v.name)}">{esc(v.name)}</a></li>'
                                          for v in views) + "</ul></nav>")
        body.append(comparison(views))
    body += [run_section(v, smoothing) for v in views]
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dgm report: {esc(title)}"
            f"</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head><body>{''.join(body)}"
            "</body></html>\n")


def write_report(paths: list[str | Path], out: str | Path, data_dir: str | Path | None = None,
                 pictures: bool = True, smoothing: float = 0.6, seed: int = 0) -> Path:
    """Read the runs (``expand_runs``), draw their pictures unless ``pictures`` is False, and write the page
    to ``out`` atomically."""
    views = [read_run(p) for p in expand_runs(paths)]
    for v in views:
        if pictures:
            draw_pictures(v, data_dir, seed)
        else:
            v.left_out.append("pictures from the checkpoint: not drawn (--no-pictures)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render(views, smoothing), encoding="utf-8")
    tmp.replace(out)
    return out
