"""Fixtures for the data tests: the shared real datasets (skipped when absent) and a scripted local http server."""
from __future__ import annotations

import os
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def shared_data_dirs() -> list[Path]:
    """Where real datasets may be: $DGM_DATA_DIR, then ../shared/data next to the repository."""
    env = os.environ.get("DGM_DATA_DIR")
    return ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2].parent / "shared" / "data"]


@pytest.fixture(scope="session")
def real_data():
    """``real_data("frey")`` -> the data directory holding that dataset's folder, or skip the test."""

    def need(folder: str) -> Path:
        for d in shared_data_dirs():
            if (d / folder).is_dir():
                return d
        pytest.skip(f"real dataset {folder!r} not available (set DGM_DATA_DIR or provide ../shared/data)")

    return need


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; ``server.scripts[path]`` lists one behaviour per request (the last one repeats):
    "ok", "norange" (ignore Range), "503", "404", "truncate" (half the body, then close), "reset" (half, then
    TCP RST), "wrong" (other bytes of the same length), "redirect:URL"."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range"),
                             "user_agent": self.headers.get("User-Agent")})
        script = srv.scripts.get(self.path, ["ok"])
        action = script.pop(0) if len(script) > 1 else script[0]
        body = srv.files.get(self.path)
        if action in ("503", "404") or body is None:
            code = 404 if body is None else int(action)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", action[len("redirect:"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action == "wrong":
            body = bytes(b ^ 0xFF for b in body)
        start = 0
        rng = self.headers.get("Range")
        if rng and action == "ok" and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
        part = body[start:]
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if action in ("truncate", "reset"):
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            if action == "reset":  # linger 0: close() sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.wfile.write(part)


@pytest.fixture
def http_server():
    """A local http server on 127.0.0.1 (random port): ``.files``, ``.scripts``, ``.requests``, ``.url(path)``."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files, srv.scripts, srv.requests = {}, {}, []
    srv.url = lambda path: f"http://127.0.0.1:{srv.server_address[1]}{path}"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(timeout=5)
