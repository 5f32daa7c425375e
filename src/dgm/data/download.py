"""Downloads with pinned SHA-256, https only, retries with backoff, resume, temp file then atomic rename
(archives are unpacked by ``extract.safe_extract``).

A download streams into ``<folder>/<name>.part`` (resumed with an HTTP Range request after a cut connection or an
interrupted run), is verified against the pinned sha256, then ``os.replace``d to its final name, so the final
name only ever holds a verified file. After the last failure the ``.part`` is deleted.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

from ..errors import DataError
from .extract import safe_extract  # noqa: F401  (re-exported: fetch, then extract)

log = logging.getLogger(__name__)

# Plain http is refused everywhere; tests that serve files from a local http.server set this (or pass
# ``allow_insecure_localhost=True``) so that http://127.0.0.1 and http://localhost are accepted, and nothing else.
ALLOW_INSECURE_LOCALHOST = False
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CHUNK = 1 << 16


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        v = version("dgm")
    except Exception:  # not installed (PYTHONPATH=src): the UA is informative only
        v = "dev"
    return f"dgm/{v} Python-urllib/{sys.version_info[0]}.{sys.version_info[1]}"


USER_AGENT = _user_agent()


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: its name on disk, https mirrors tried in order, its pinned sha256, and manual instructions.

    Where no sha256 is published (and none could be computed here), ``sha256`` is empty and ``git_blob_sha1``
    pins the file by its upstream git repository's own object id instead.
    """

    name: str
    urls: tuple[str, ...]
    sha256: str
    note: str = ""  # how to get the file by hand (shown when there is no URL or every mirror failed)
    git_blob_sha1: str = ""

    def __post_init__(self):
        if not self.sha256 and not self.git_blob_sha1:
            raise ValueError(f"{self.name}: pin a sha256 or a git blob sha1")

    @property
    def pin(self) -> str:
        """The pinned digest, named: 'sha256 <hex>' or 'git blob sha1 <hex>'."""
        return f"sha256 {self.sha256}" if self.sha256 else f"git blob sha1 {self.git_blob_sha1}"

    def digest_of(self, path: Path) -> str:
        """The digest of ``path`` of the pinned kind (hex)."""
        return sha256_of(path) if self.sha256 else git_blob_sha1_of(path)

    def matches(self, path: Path) -> bool:
        return self.digest_of(path) == (self.sha256 or self.git_blob_sha1)


class _Retryable(Exception):
    """A failed attempt worth repeating: connection error, 5xx, truncated body, or hash mismatch."""


class _RestartPart(_Retryable):
    """The partial file cannot be resumed (416, or a range we did not ask for): retry from byte 0."""


class _Fatal(Exception):
    """A failed attempt not worth repeating on this mirror (e.g. 404): go to the next one."""


def check_url(url: str, allow_insecure_localhost: bool | None = None) -> None:
    """Raise DataError unless ``url`` is https (or http to 127.0.0.1/localhost when explicitly allowed)."""
    allow = ALLOW_INSECURE_LOCALHOST if allow_insecure_localhost is None else allow_insecure_localhost
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and allow and parts.hostname in LOCAL_HOSTS:
        return
    raise DataError(f"refusing to download {url}: dgm downloads over https only (no http, no https->http redirects)")


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs that pass ``check_url``, so a mirror cannot downgrade us to http."""

    def __init__(self, allow_insecure_localhost: bool | None):
        self.allow = allow_insecure_localhost

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl, self.allow)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def backoff_delay(attempt: int, base: float, cap: float = 10.0) -> float:
    """Seconds to wait after failed attempt ``attempt`` (0-based): base * 2**attempt, at most ``cap``."""
    return min(base * (2.0**attempt), cap)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_blob_sha1_of(path: Path) -> str:
    """Hex git object id of a file: sha1 of ``b"blob <size>\\0"`` followed by its bytes."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _progress(total: int | None, initial: int, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False,
                disable=not enabled or not sys.stderr.isatty())


def _open(url: str, start: int, timeout: float, allow: bool | None):
    """Open ``url`` asking for bytes from ``start`` on; returns (response, resumed: bool)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    opener = urllib.request.build_opener(_HttpsOnlyRedirects(allow))
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416:  # our .part is already as long as the file (or longer): start over
            raise _RestartPart("HTTP 416 range not satisfiable") from None
        if e.code >= 500 or e.code in (408, 425, 429):
            raise _Retryable(f"HTTP {e.code}") from None
        raise _Fatal(f"HTTP {e.code}") from None
    if start > 0 and resp.status == 206:
        if not resp.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
            resp.close()
            raise _RestartPart(f"server answered a different range ({resp.headers.get('Content-Range')})")
        return resp, True
    return resp, False


def _stream(url: str, part: Path, timeout: float, allow: bool | None, progress: bool) -> None:
    """Download ``url`` into ``part``, resuming from its current length when the server honours Range."""
    start = part.stat().st_size if part.exists() else 0
    resp, resumed = _open(url, start, timeout, allow)
    with resp:
        if start and not resumed:
            log.info("%s ignored the Range request; downloading from the start", url)
            start = 0
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        got = 0
        try:
            out = open(part, "ab" if start else "wb")
        except OSError as e:  # a local problem (permissions, disk): retrying the network will not help
            raise DataError(f"cannot write {part}: {e.strerror or e}") from None
        with out, _progress(None if expected is None else start + expected, start, part.name, progress) as bar:
            while True:
                try:
                    block = resp.read(CHUNK)
                except http.client.IncompleteRead as e:  # chunked body cut short: keep what came, resume later
                    _write(out, part, e.partial)
                    out.flush()
                    raise _Retryable(f"truncated body after {got + len(e.partial)} bytes") from None
                if not block:
                    break
                _write(out, part, block)
                got += len(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
    if expected is not None and got < expected:
        raise _Retryable(f"truncated body: {got} of {expected} bytes")


def _write(out, part: Path, block: bytes) -> None:
    try:
        out.write(block)
    except OSError as e:
        raise DataError(f"cannot write {part}: {e.strerror or e} (disk full?)") from None


def _try_mirror(f: RemoteFile, url: str, part: Path, dest: Path, opts: dict, failures: list[str],
                bad_hashes: list[str]) -> bool:
    """Attempt one mirror up to 1 + retries times; True once ``dest`` holds the verified file."""
    retries = opts["retries"]
    for attempt in range(retries + 1):
        try:
            _stream(url, part, opts["timeout"], opts["allow"], opts["progress"])
            if f.matches(part):
                os.replace(part, dest)  # atomic: the final name appears only once verified
                return True
            actual = f.digest_of(part)
            bad_hashes.append(actual)
            part.unlink(missing_ok=True)  # a wrong hash cannot be resumed into a right one
            raise _Retryable(f"{f.pin.rsplit(' ', 1)[0]} mismatch, got {actual}")
        except _Fatal as e:
            failures.append(f"{url} ({e})")
            return False
        except (_Retryable, OSError, http.client.HTTPException) as e:
            reason = str(e) or type(e).__name__
            log.info("download %s attempt %d failed: %s", url, attempt + 1, reason)
            if isinstance(e, _RestartPart):
                part.unlink(missing_ok=True)
            if attempt == retries:
                failures.append(f"{url} ({reason})")
                return False
            time.sleep(backoff_delay(attempt, opts["backoff"], opts["max_backoff"]))
    return False


def fetch_one(f: RemoteFile, folder: Path, *, retries: int = 3, timeout: float = 30.0, backoff: float = 1.0,
              max_backoff: float = 10.0, allow_insecure_localhost: bool | None = None, progress: bool = True) -> Path:
    """Download ``f`` into ``folder``: mirrors in order, retries with backoff, resume, sha256, atomic rename."""
    dest = folder / f.name
    if dest.is_file() and f.matches(dest):
        return dest
    if not f.urls:
        how = f"; {f.note}" if f.note else ""
        raise DataError(f"{f.name} cannot be downloaded automatically{how}; put it in {folder}")
    for url in f.urls:  # refuse the whole file before any network traffic if one mirror is insecure
        check_url(url, allow_insecure_localhost)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (f.name + ".part")
    opts = dict(retries=max(0, retries), timeout=timeout, backoff=backoff, max_backoff=max_backoff,
                allow=allow_insecure_localhost, progress=progress)
    failures: list[str] = []
    bad_hashes: list[str] = []
    # A .part left by an interrupted run (Ctrl-C) is resumed here and verified like any other download.
    try:
        for url in f.urls:
            if _try_mirror(f, url, part, dest, opts, failures, bad_hashes):
                return dest
    except DataError:
        part.unlink(missing_ok=True)
        raise
    part.unlink(missing_ok=True)  # every mirror failed: leave no partial file behind
    got = bad_hashes[-1] if bad_hashes else "no complete download"
    how = f"; or {f.note}, into {folder}" if f.note else f"; or download it by hand into {folder}"
    raise DataError(
        f"could not download {f.name}: tried {'; '.join(failures)}; expected {f.pin}, got {got}{how}"
    )


def fetch(files: Sequence[RemoteFile], folder: Path, *, retries: int = 3, timeout: float = 30.0, backoff: float = 1.0,
          max_backoff: float = 10.0, allow_insecure_localhost: bool | None = None, progress: bool = True) -> list[Path]:
    """Download each file into ``folder`` (verified, atomic); returns their paths in order.

    retries: extra attempts per mirror after the first; backoff: first delay in seconds, doubled per attempt and
    capped at max_backoff; timeout: per socket operation; allow_insecure_localhost: None = module flag
    ALLOW_INSECURE_LOCALHOST; progress: a tqdm bar on a TTY.
    """
    kw = dict(retries=retries, timeout=timeout, backoff=backoff, max_backoff=max_backoff,
              allow_insecure_localhost=allow_insecure_localhost, progress=progress)
    return [fetch_one(f, Path(folder), **kw) for f in files]
