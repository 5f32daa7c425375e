"""The web app's two pages as plain HTML (escaped here; the behaviour is static/app.js, served locally)."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .runs import RunInfo

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
.status-running { color: #1f5ac8; } .status-finished { color: #2b8a3e; } .status-failed { color: #c92a2a; }
.status-stopped { color: #7a4d00; } .panel { border: 1px solid #ddd; padding: .6em; margin: .6em 0; }
img.live { image-rendering: pixelated; width: 448px; } .error { color: #c92a2a; } label { margin-right: 1em; }
"""


def esc(v: Any) -> str:
    return html.escape(str(v))


def page(title: str, body: str, script: bool = True) -> str:
    js = '<script src="/static/app.js"></script>' if script else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            # no icon to fetch (a browser's /favicon.ico request would be a 404 in its console)
            '<link rel="icon" href="data:,">'
            f"<style>{STYLE}</style></head><body>{body}{js}</body></html>")


def index(root: Path) -> str:
    """The runs list; app.js fills the table from /api/runs and refreshes it."""
    body = (f"<h1>dgm runs in {esc(root)}</h1><p>Refreshed every 3 s while runs train.</p>"
            '<table id="runs"><thead><tr><th>run</th><th>model</th><th>data</th><th>step</th><th>status</th>'
            '<th>metrics</th></tr></thead><tbody></tbody></table><p id="empty" hidden>No runs here yet: '
            "train one with <code>dgm train MODEL --out RUNS_DIR/NAME</code>.</p>")
    return page("dgm runs", f'<main data-page="index">{body}</main>')


def run(info: RunInfo, files: list[str], caps: dict[str, Any] | None, error: str | None) -> str:
    """A run's page: its status, live controls for what the model can do, and its artefacts."""
    name = esc(info.name)
    parts = [f'<p><a href="/">all runs</a></p><h1>{name}</h1>',
             f'<p>{esc(info.model)} on {esc(info.data)}, step {esc(info.step)}, '
             f'<span class="status-{esc(info.status)}">{esc(info.status)}</span> &middot; '
             f'<a href="/runs/{name}/report">report</a></p>']
    if error:
        parts.append(f'<p class="error" id="load-error">This run\'s model cannot be loaded: {esc(error)}</p>')
    elif caps and caps["images"]:
        opts = "".join(
            f'<label>{esc(k)} <input name="{esc(k)}" data-option="1" '
            + (f'type="checkbox"{" checked" if v else ""}' if isinstance(v, bool) else
               f'value="{esc("" if v is None else v)}" size="8"') + "></label>"
            for k, v in caps["options"].items())
        classes = ""
        if caps["classes"]:
            choices = "".join(f'<option value="{c}">{c}</option>' for c in range(caps["classes"]))
            classes = f'<label>class <select id="label"><option value="">any</option>{choices}</select></label>'
        parts.append(
            '<section class="panel" id="sample-panel"><h2>Samples</h2>'
            '<label>seed <input id="seed" type="number" value="0" min="0"></label>'
            '<label>n <input id="n" type="number" value="16" min="1" max="64"></label>'
            f'{classes}<span id="options">{opts}</span><button id="sample">sample</button> '
            '<span id="sample-info"></span><div><img class="live" id="sample-image" alt="samples"></div>'
            '<p class="error" id="sample-error"></p></section>')
        if caps["latent"]:
            parts.append(
                '<section class="panel" id="latent-panel"><h2>Latent space</h2>'
                '<p>Interpolation between two seeded draws of 8 latents, and one dimension set to a value.</p>'
                '<label>seed <input id="latent-seed" type="number" value="0" min="0"></label>'
                '<label>t <input id="t" type="range" min="0" max="1" step="0.05" value="0.5"></label>'
                '<span id="t-value">0.5</span><div><img class="live" id="interp-image" alt="interpolation"></div>'
                f'<label>dim <input id="dim" type="number" value="0" min="0" max="{caps["latent_dim"] - 1}"></label>'
                '<label>value <input id="value" type="range" min="-3" max="3" step="0.25" value="0"></label>'
                '<span id="value-value">0</span><div><img class="live" id="traverse-image" alt="traversal"></div>'
                '<p class="error" id="latent-error"></p></section>')
        if caps.get("style_mixing"):
            choices = "".join(f'<option value="{r}">{r}</option>' for r in ("coarse", "middle", "fine"))
            parts.append(
                '<section class="panel" id="style-panel"><h2>Style mixing</h2>'
                "<p>Top row and left column: two sets of seeded draws; each cell is its row's image with the "
                "chosen styles of its column's (coarse: pose and shape, fine: texture).</p>"
                '<label>seed <input id="mix-seed" type="number" value="0" min="0"></label>'
                f'<label>styles <select id="mix-styles">{choices}</select></label>'
                '<label>truncation <input id="mix-psi" type="range" min="0" max="1" step="0.1" value="1"></label>'
                '<span id="mix-psi-value">1</span><div><img class="live" id="mix-image" alt="style mixing"></div>'
                '<p class="error" id="mix-error"></p></section>')
    elif caps:
        parts.append("<p>This model generates 2-D points: see its sample scatter among the files.</p>")
    links = "".join(f'<li><a href="/runs/{name}/files/{esc(f)}">{esc(f)}</a></li>' for f in files)
    parts.append(f"<h2>Files</h2><ul>{links}</ul>")
    data = esc(json.dumps({"run": info.name}))
    return page(info.name, f'<main data-page="run" data-run="{data}">{"".join(parts)}</main>')
