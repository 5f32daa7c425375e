"""`dgm serve`: the runs list and statuses, the live controls (seeded, typed, errors as messages), and the
safety rules of RELIABILITY.md case 30 over a real socket: the bind address, traversal variants and symlinks
out of a run (404, empty), foreign Host headers (403), unknown runs, a corrupt checkpoint, a folder that changes
while served."""
from __future__ import annotations

import base64
import http.client
import io
import json
import os
import shutil
import socket
import threading

import pytest
import torch
from PIL import Image

pytest.importorskip("flask")

from dgm.cli.main import main  # noqa: E402
from dgm.serve.app import create_app, host_name, make_server  # noqa: E402
from dgm.serve.live import ModelCache  # noqa: E402

@pytest.fixture(scope="module")
def client(root):
    return create_app(root).test_client()


def png(data_uri: str) -> Image.Image:
    assert data_uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))


def test_runs_list_with_status(client, root):
    runs = {r["name"]: r for r in client.get("/api/runs").get_json()}
    assert {n: r["status"] for n, r in runs.items()} == {"vae": "finished", "cgan": "finished", "style": "finished",
                                                         "stopped": "stopped", "failed": "failed"}
    assert runs["vae"]["model"] == "vae" and runs["vae"]["data"] == "mnist-10k" and runs["vae"]["step"] == 6
    page = client.get("/").get_data(as_text=True)
    assert 'src="/static/app.js"' in page and "http" not in page.replace("http://127.0.0.1", "")
    assert client.get("/static/app.js").status_code == 200


def test_a_live_trainer_shows_as_running(root, client, tmp_path):
    run = root / "vae"
    (run / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": 0,
                                           "command": "dgm train"}))
    try:
        runs = {r["name"]: r["status"] for r in client.get("/api/runs").get_json()}
        assert runs["vae"] == "running"
    finally:
        (run / ".lock").write_text("")  # released


def test_samples_are_seeded_and_options_typed(client):
    def sample(**kw):
        r = client.post("/api/runs/vae/sample", json={"n": 8, **kw})
        return r.status_code, r.get_json()

    code, a = sample(seed=3)
    assert code == 200 and a["seed"] == 3 and png(a["image"]).size[0] > 28
    assert sample(seed=3)[1]["image"] == a["image"] and sample(seed=4)[1]["image"] != a["image"]
    code, bad = sample(seed=3, n=1000)
    assert code == 400 and "n must be in 1..64" in bad["error"]
    code, bad = sample(seed=3, label=2)
    assert code == 400 and "not class-conditional" in bad["error"]
    code, bad = sample(seed=3, options={"temprature": 1})
    assert code == 400 and "no option 'temprature'" in bad["error"]


def test_conditional_model_offers_its_classes(client):
    page = client.get("/runs/cgan").get_data(as_text=True)
    assert '<select id="label">' in page and '<option value="9">9</option>' in page
    r = client.post("/api/runs/cgan/sample", json={"n": 8, "seed": 0, "label": 7})
    assert r.status_code == 200
    ones = client.post("/api/runs/cgan/sample", json={"n": 8, "seed": 0, "label": 1})
    assert r.get_json()["image"] != ones.get_json()["image"]


def test_interpolation_and_traversal(client, root):
    from dgm.runs import load_run
    from dgm.viz.grids import grid_png

    model, _ = load_run(root / "vae")
    g = torch.Generator().manual_seed(5)
    za, zb = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    with torch.no_grad():
        want = grid_png(model.decode(za + 0.25 * (zb - za)), nrow=8)
    got = client.post("/api/runs/vae/interpolate", json={"seed": 5, "t": 0.25}).get_json()["image"]
    assert base64.b64decode(got.split(",", 1)[1]) == want
    z = za.clone()
    z[:, 2] = -1.5
    with torch.no_grad():
        want = grid_png(model.decode(z), nrow=8)
    got = client.post("/api/runs/vae/traverse", json={"seed": 5, "dim": 2, "value": -1.5}).get_json()["image"]
    assert base64.b64decode(got.split(",", 1)[1]) == want
    r = client.post("/api/runs/vae/traverse", json={"seed": 5, "dim": 3})
    assert r.status_code == 400 and "dim must be in 0..2" in r.get_json()["error"]
    assert client.post("/api/runs/vae/interpolate", data="not json").status_code == 400


def test_style_mixing_of_a_style_based_generator(client, root):
    from dgm.runs import load_run
    from dgm.viz.grids import grid_png
    from dgm.viz.style_mixing import style_mix_grid

    assert 'id="style-panel"' in client.get("/runs/style").get_data(as_text=True)
    assert 'id="style-panel"' not in client.get("/runs/vae").get_data(as_text=True)
    model, _ = load_run(root / "style")
    images, nrow = style_mix_grid(model, 3, 5, "fine", 0.7, torch.Generator().manual_seed(4))
    r = client.post("/api/runs/style/style-mix", json={"seed": 4, "styles": "fine", "truncation": "0.7"})
    assert r.status_code == 200 and base64.b64decode(r.get_json()["image"].split(",", 1)[1]) == grid_png(images, 6)
    coarse = client.post("/api/runs/style/style-mix", json={"seed": 4, "styles": "coarse", "truncation": "0.7"})
    assert coarse.get_json()["image"] != r.get_json()["image"]
    assert png(coarse.get_json()["image"]).size[0] > 6 * 28
    bad = client.post("/api/runs/style/style-mix", json={"styles": "medium"})
    assert bad.status_code == 400 and "styles must be one of coarse, middle, fine" in bad.get_json()["error"]
    bad = client.post("/api/runs/style/style-mix", json={"truncation": 1.5})
    assert bad.status_code == 400 and "truncation must be in [0, 1]" in bad.get_json()["error"]
    vae = client.post("/api/runs/vae/style-mix", json={})
    assert vae.status_code == 400 and "need a style-based generator" in vae.get_json()["error"]


def test_foreign_host_is_refused(client):
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 403
    assert client.get("/", headers={"Host": "evil.example"}).get_data() == b""
    assert client.get("/api/runs", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/api/runs", headers={"Host": "[::1]:8000"}).status_code == 200
    assert host_name("LOCALHOST") == "localhost" and host_name("[::1]:80") == "::1"


def test_unknown_run_and_file_are_empty_404s(client):
    for path in ("/runs/nope", "/runs/nope/files/config.yaml", "/runs/vae/files/nope.png", "/runs/vae/files/.lock",
                 "/runs/vae/files/leak.json", "/api/runs/nope/sample"):
        r = client.get(path) if "api" not in path else client.post(path, json={})
        assert r.status_code == 404 and r.get_data() == b"", path
    assert client.get("/runs/vae/files/config.yaml").status_code == 200
    r = client.get("/runs/vae/files/samples/final.png")
    assert r.status_code == 200 and r.mimetype == "image/png"


@pytest.fixture(scope="module")
def server(root):
    srv = make_server(root, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()


def raw_get(server, path: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """A GET with the path sent as it is (no client-side normalisation)."""
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    conn.endheaders()
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


def test_binds_localhost_only(server):
    assert server.server_address[0] == "127.0.0.1"


@pytest.mark.parametrize("path", [
    "/runs/vae/files/..%2f..%2foutside.json", "/runs/vae/files/%2e%2e/%2e%2e/outside.json",
    "/runs/vae/files/%252e%252e/%252e%252e/outside.json", "/runs/vae/files/../../outside.json",
    "/runs/vae/files//etc/passwd", "/runs/vae/files/..\\..\\outside.json", "/runs/..%2f/files/outside.json",
    "/runs/vae/files/leak.json", "/..%2f..%2fetc/passwd", "/runs/%2e%2e/files/outside.json",
    "/static/..%2f..%2fapp.py", "/static/../app.py"])
def test_traversal_variants_get_nothing(server, path):
    status, body = raw_get(server, path)
    assert status in (403, 404) and b"secret" not in body and b"root:" not in body and b"import" not in body


def test_real_socket_checks_host_and_serves_files(server):
    assert raw_get(server, "/api/runs", host="evil.example") == (403, b"")
    status, body = raw_get(server, "/runs/vae/files/samples/final.png")
    assert status == 200 and body[:4] == b"\x89PNG"


def test_corrupt_checkpoint_is_a_message_and_the_server_keeps_serving(root, client):
    bad = root / "corrupt"
    shutil.copytree(root / "vae", bad, symlinks=True)
    for p in (bad / "checkpoints").rglob("model.safetensors"):
        p.write_bytes(b"garbage")
    page = client.get("/runs/corrupt").get_data(as_text=True)
    assert "cannot be loaded" in page
    r = client.post("/api/runs/corrupt/sample", json={"seed": 0})
    assert r.status_code == 409 and r.get_json()["error"]
    assert client.get("/api/runs").status_code == 200  # a folder that changed while served: listed
    assert "corrupt" in {x["name"] for x in client.get("/api/runs").get_json()}
    shutil.rmtree(bad)
    assert client.get("/runs/corrupt").status_code == 404


def test_cache_reloads_a_newer_checkpoint(root):
    cache = ModelCache(size=1)
    a = cache.get("vae", root / "vae", "step-6")
    assert cache.get("vae", root / "vae", "step-6") is a
    assert cache.get("vae", root / "vae", "step-7") is not a
    cache.get("cgan", root / "cgan", "step-2")
    assert list(cache.models) == ["cgan"]


def test_cli_warns_on_all_interfaces_and_refuses_a_missing_folder(tmp_path, monkeypatch, capsys):
    import dgm.serve.app as app_module

    class Fake:
        server_address = ("0.0.0.0", 8123)

        def serve_forever(self):
            pass

        def server_close(self):
            pass

    monkeypatch.setattr(app_module, "make_server", lambda root, host, port: Fake())
    assert main(["serve", str(tmp_path), "--host", "0.0.0.0", "--port", "8123"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "reachable from other machines" in err
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
