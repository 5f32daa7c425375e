"""``dgm serve``: a local web app over a runs folder (Flask, the optional extra ``dgm[serve]``).

Pages: ``/`` lists the runs (model, data, step, status, headline metrics; refreshed every few seconds from
``/api/runs``); ``/runs/<name>`` shows a run's live controls (samples with a seed, the model's sampling options
and a class; an interpolation slider; one latent dimension's value) beside its artefacts; ``/runs/<name>/report``
is its ``dgm report`` page. ``/runs/<name>/files/<path>`` serves an artefact listed by ``runs.artefacts``.

Safety (RELIABILITY.md case 30): binds 127.0.0.1 unless told otherwise; a request whose Host is not a local name
(or the host it was told to bind) gets 403, against DNS rebinding; runs and files are found by exact match in
listings of the folder, so ``..``, encoded slashes, absolute paths and symlinks out of a run get 404 with an
empty body; models load only through the safe loader; an error on a run (a corrupt checkpoint) is the
response's message, and the server keeps serving.
"""
from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DgmError
from . import live, pages
from .runs import artefacts, list_runs, run_info

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
MIME = {".png": "image/png", ".json": "application/json", ".jsonl": "application/json", ".yaml": "text/plain",
        ".html": "text/html", ".txt": "text/plain", ".csv": "text/csv"}


def host_name(header: str) -> str:
    """The host part of a Host header ("[::1]:8000" -> "::1", "localhost:80" -> "localhost"), lower case."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def create_app(root: str | Path, bind_host: str = "127.0.0.1"):
    """The Flask app over the runs in ``root``; ``bind_host``: the address served (its name is accepted as a
    Host too, unless it is a wildcard)."""
    try:
        from flask import Flask, Response, abort, jsonify, request
    except ImportError:
        raise ConfigError("dgm serve needs Flask: pip install 'dgm[serve]' (or pip install flask)") from None
    root = Path(root)
    allowed = set(LOCAL_HOSTS)
    if bind_host not in ("0.0.0.0", "::", ""):
        allowed.add(bind_host.lower())
    app = Flask("dgm.serve", static_folder=str(Path(__file__).parent / "static"), static_url_path="/static")
    # no redirects to a "normalised" URL (merged slashes, a trailing slash): a traversal attempt gets 404, not a
    # Location to follow
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    models = live.ModelCache()
    compute = threading.Lock()  # one request computes at a time: torch already uses every core

    @app.before_request
    def check_host():
        if host_name(request.host) not in allowed:
            return Response("", status=403)
        return None

    for code in (403, 404, 405):
        app.register_error_handler(code, lambda e, c=code: Response("", status=c))

    def find(name: str) -> Path:
        run = list_runs(root).get(name)
        if run is None:
            abort(404)
        return run

    @app.get("/")
    def index():
        return pages.index(root)

    @app.get("/api/runs")
    def api_runs():
        return jsonify([run_info(n, p).as_json() for n, p in list_runs(root).items()])

    @app.get("/runs/<name>")
    def run_page(name: str):
        run = find(name)
        info = run_info(name, run)
        try:
            model = models.get(name, run, info.latest)
            caps, error = live.capabilities(model), None
        except DgmError as e:
            caps, error = None, str(e)
        return pages.run(info, sorted(artefacts(run)), caps, error)

    @app.get("/runs/<name>/report")
    def report(name: str):
        from ..viz.report import draw_pictures, read_run, render

        view = read_run(find(name))
        with compute:
            draw_pictures(view, None)
        return render([view])

    @app.get("/runs/<name>/files/<path:file>")
    def files(name: str, file: str):
        real = artefacts(find(name)).get(file)
        if real is None:
            abort(404)
        return Response(real.read_bytes(), mimetype=MIME.get(real.suffix.lower(), "application/octet-stream"))

    def live_call(name: str, make) -> Any:
        run = find(name)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify({"error": "send a JSON object"}), 400
        t0 = time.perf_counter()
        try:
            model = models.get(name, run, run_info(name, run).latest)
            with compute:
                png = make(model, body)
        except DgmError as e:
            return jsonify({"error": str(e)}), 400 if isinstance(e, ConfigError) else 409
        except Exception as e:  # noqa: BLE001 - the page shows the problem; the server keeps serving
            return jsonify({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}), 500
        return jsonify({"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
                        "seed": body.get("seed", 0), "ms": round(1000 * (time.perf_counter() - t0), 1)})

    @app.post("/api/runs/<name>/sample")
    def api_sample(name: str):
        return live_call(name, live.sample_png)

    @app.post("/api/runs/<name>/interpolate")
    def api_interpolate(name: str):
        return live_call(name, live.interpolation_png)

    @app.post("/api/runs/<name>/traverse")
    def api_traverse(name: str):
        return live_call(name, live.traversal_png)

    @app.post("/api/runs/<name>/style-mix")
    def api_style_mix(name: str):
        return live_call(name, live.style_mix_png)

    return app


def make_server(root: str | Path, host: str = "127.0.0.1", port: int = 8000):
    """A threaded WSGI server of ``create_app`` bound to (host, port) (port 0: any free port)."""
    from werkzeug.serving import make_server as werkzeug_server

    return werkzeug_server(host, port, create_app(root, host), threaded=True)
