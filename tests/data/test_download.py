"""The downloader (RELIABILITY cases 25-26) against a local http server, and safe extraction (case 27)."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from dgm.data import download
from dgm.data.download import RemoteFile, backoff_delay, check_url, fetch, safe_extract
from dgm.errors import DataError

BODY = bytes(range(256)) * 400  # 100 KiB, more than one read chunk
SHA = hashlib.sha256(BODY).hexdigest()
FAST = dict(allow_insecure_localhost=True, backoff=0.001, timeout=5, progress=False)


def remote(srv, *paths: str, name: str = "file.bin") -> RemoteFile:
    for p in paths:
        srv.files.setdefault(p, BODY)
    return RemoteFile(name, tuple(srv.url(p) for p in paths), SHA)


def only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_success_verifies_and_sends_user_agent(http_server, tmp_path):
    [path] = fetch([remote(http_server, "/a")], tmp_path, **FAST)
    assert path == tmp_path / "file.bin" and path.read_bytes() == BODY
    assert only(tmp_path) == ["file.bin"]
    assert http_server.requests[0]["user_agent"].startswith("dgm/")


def test_503_twice_then_success(http_server, tmp_path):
    http_server.scripts["/a"] = ["503", "503", "ok"]
    [path] = fetch([remote(http_server, "/a")], tmp_path, **FAST)
    assert path.read_bytes() == BODY and len(http_server.requests) == 3
    assert only(tmp_path) == ["file.bin"]


@pytest.mark.parametrize("fault", ["truncate", "reset"])
def test_cut_mid_body_then_success_resumes_with_range(http_server, tmp_path, fault):
    http_server.scripts["/a"] = [fault, "ok"]
    [path] = fetch([remote(http_server, "/a")], tmp_path, **FAST)
    assert path.read_bytes() == BODY and only(tmp_path) == ["file.bin"]
    first, second = http_server.requests
    assert first["range"] is None
    if fault == "truncate":  # the half that arrived is kept and the rest asked for
        assert second["range"] == f"bytes={len(BODY) // 2}-"


def test_resume_existing_part_file(http_server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(BODY[:1000])
    [path] = fetch([remote(http_server, "/a")], tmp_path, **FAST)
    assert path.read_bytes() == BODY and http_server.requests[0]["range"] == "bytes=1000-"
    assert only(tmp_path) == ["file.bin"]


def test_server_ignoring_range_restarts_from_zero(http_server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(b"junk that is not the file's start")
    http_server.scripts["/a"] = ["norange"]
    [path] = fetch([remote(http_server, "/a")], tmp_path, **FAST)
    assert path.read_bytes() == BODY and only(tmp_path) == ["file.bin"]


def test_wrong_hash_after_retries_lists_urls_and_hashes(http_server, tmp_path):
    http_server.scripts["/a"] = ["wrong"]
    f = remote(http_server, "/a")
    with pytest.raises(DataError) as e:
        fetch([f], tmp_path, retries=2, **FAST)
    msg = str(e.value)
    assert f.urls[0] in msg and SHA in msg
    assert hashlib.sha256(bytes(b ^ 0xFF for b in BODY)).hexdigest() in msg
    assert len(http_server.requests) == 3 and "\n" not in msg
    assert only(tmp_path) == []  # no .part, no final file


def test_every_mirror_failing(http_server, tmp_path):
    http_server.scripts["/a"] = ["404"]
    http_server.scripts["/b"] = ["503"]
    f = remote(http_server, "/a", "/b")
    with pytest.raises(DataError) as e:
        fetch([f], tmp_path, retries=1, **FAST)
    msg = str(e.value)
    assert f.urls[0] in msg and f.urls[1] in msg and "404" in msg and "503" in msg
    assert SHA in msg and "no complete download" in msg
    assert [r["path"] for r in http_server.requests] == ["/a", "/b", "/b"]  # 404 is not retried
    assert only(tmp_path) == []


def test_second_mirror_used_when_first_fails(http_server, tmp_path):
    http_server.scripts["/a"] = ["404"]
    [path] = fetch([remote(http_server, "/a", "/b")], tmp_path, **FAST)
    assert path.read_bytes() == BODY


def test_existing_verified_file_is_not_downloaded_again(http_server, tmp_path):
    (tmp_path / "file.bin").write_bytes(BODY)
    fetch([remote(http_server, "/a")], tmp_path, **FAST)
    assert http_server.requests == []


def test_https_only(http_server, tmp_path):
    with pytest.raises(DataError, match="https only"):
        fetch([RemoteFile("x", ("http://example.com/x",), SHA)], tmp_path, **FAST)
    # plain http to localhost only with the explicit opt-in (module flag off by default)
    assert download.ALLOW_INSECURE_LOCALHOST is False
    with pytest.raises(DataError, match="https only"):
        fetch([remote(http_server, "/a")], tmp_path, backoff=0.001, progress=False)
    assert http_server.requests == [] and only(tmp_path) == []
    check_url("https://example.com/x")
    for bad in ("ftp://example.com/x", "file:///etc/passwd", "http://10.0.0.1/x", "https:///nohost"):
        with pytest.raises(DataError):
            check_url(bad, allow_insecure_localhost=True)


def test_module_flag_allows_localhost(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "ALLOW_INSECURE_LOCALHOST", True)
    [path] = fetch([remote(http_server, "/a")], tmp_path, backoff=0.001, progress=False)
    assert path.read_bytes() == BODY


def test_redirect_to_http_is_refused(http_server, tmp_path):
    http_server.scripts["/a"] = ["redirect:http://example.com/file.bin"]
    with pytest.raises(DataError, match="https only"):
        fetch([remote(http_server, "/a")], tmp_path, **FAST)
    assert only(tmp_path) == []


def test_no_urls_gives_manual_instructions(tmp_path):
    with pytest.raises(DataError, match="cannot be downloaded automatically; get it from X"):
        fetch([RemoteFile("f", (), SHA, note="get it from X")], tmp_path)


def test_backoff_is_exponential_and_capped():
    assert [backoff_delay(a, 1.0) for a in range(6)] == [1, 2, 4, 8, 10, 10]
    assert backoff_delay(2, 0.01) == pytest.approx(0.04)


# ---- safe_extract ------------------------------------------------------------------------------------------------


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            if isinstance(m, tuple):
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
            else:
                tf.addfile(m)
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.fixture
def sandbox(tmp_path):
    """(archive dir, dest) inside tmp_path; the test checks nothing appears anywhere else in tmp_path."""
    (tmp_path / "arch").mkdir()
    return tmp_path / "arch", tmp_path / "root" / "dest"


def all_files(tmp_path: Path, exclude: Path) -> set[str]:
    return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if exclude not in p.parents and p != exclude}


def test_safe_extract_tar_and_zip_happy_path(sandbox):
    arch, dest = sandbox
    tar = make_tar(arch / "a.tar.gz", [("d/x.txt", b"x"), ("y.txt", b"yy")])
    files = safe_extract(tar, dest)
    assert (dest / "d" / "x.txt").read_bytes() == b"x" and len(files) == 2
    with zipfile.ZipFile(arch / "a.zip", "w") as zf:
        zf.writestr("z/z.txt", b"zz")
    safe_extract(arch / "a.zip", dest / "z")
    assert (dest / "z" / "z" / "z.txt").read_bytes() == b"zz"


@pytest.mark.parametrize("bad", [
    ("../evil.txt", b"evil"),
    ("ok/../../evil.txt", b"evil"),
    "ABSOLUTE",
    special("link", tarfile.SYMTYPE, "/etc"),
    special("link", tarfile.SYMTYPE, "../../evil"),
    special("hard", tarfile.LNKTYPE, "/etc/passwd"),
    special("dev", tarfile.CHRTYPE),
    special("blk", tarfile.BLKTYPE),
    special("fifo", tarfile.FIFOTYPE),
])
def test_safe_extract_refuses_bad_tar_members_before_writing(sandbox, tmp_path, bad):
    arch, dest = sandbox
    if bad == "ABSOLUTE":
        bad = (str(tmp_path / "abs_evil.txt"), b"evil")
    # a harmless member first: nothing at all may be written when any member is bad
    tar = make_tar(arch / "bad.tar.gz", [("good.txt", b"ok"), bad])
    before = all_files(tmp_path, dest)
    with pytest.raises(DataError, match="refusing to extract"):
        safe_extract(tar, dest)
    assert not dest.exists()
    assert all_files(tmp_path, dest) == before


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/abs_evil.txt", "..\\evil.txt", "C:/evil.txt"])
def test_safe_extract_refuses_bad_zip_names(sandbox, tmp_path, name):
    arch, dest = sandbox
    with zipfile.ZipFile(arch / "bad.zip", "w") as zf:
        zf.writestr("good.txt", b"ok")
        zf.writestr(zipfile.ZipInfo(name), b"evil")  # ZipInfo keeps the name as given
    with pytest.raises(DataError, match="refusing to extract"):
        safe_extract(arch / "bad.zip", dest)
    assert not dest.exists() and not (tmp_path / "evil.txt").exists() and not Path("/abs_evil.txt").exists()


def test_safe_extract_refuses_zip_symlink(sandbox):
    arch, dest = sandbox
    with zipfile.ZipFile(arch / "link.zip", "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)  # S_IFLNK
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symlink"):
        safe_extract(arch / "link.zip", dest)


def test_safe_extract_refuses_escape_through_existing_symlink(sandbox, tmp_path):
    arch, dest = sandbox
    dest.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, dest / "link")
    tar = make_tar(arch / "t.tar.gz", [("link/evil.txt", b"evil")])
    with pytest.raises(DataError, match="outside"):
        safe_extract(tar, dest)
    assert list(outside.iterdir()) == []


def test_safe_extract_corrupt_archive(sandbox):
    arch, dest = sandbox
    good = make_tar(arch / "t.tar.gz", [("x.bin", os.urandom(50_000))])
    cut = arch / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:20_000])
    with pytest.raises(DataError, match="truncated"):
        safe_extract(cut, dest)
    (arch / "junk.bin").write_bytes(b"not an archive at all")
    with pytest.raises(DataError):
        safe_extract(arch / "junk.bin", dest)


def test_registry_downloads_missing_files_then_parses(http_server, tmp_path, monkeypatch):
    from dgm.data.registry import DatasetSpec, ensure_files

    monkeypatch.setattr(download, "ALLOW_INSECURE_LOCALHOST", True)
    spec = DatasetSpec(name="toy-remote", parse=lambda paths, split: paths,
                       files={"train": (remote(http_server, "/t"),)})
    paths = ensure_files(spec, "train", tmp_path)
    assert paths["file.bin"] == tmp_path / "toy-remote" / "file.bin" and paths["file.bin"].read_bytes() == BODY
    assert ensure_files(spec, "train", tmp_path) == paths and len(http_server.requests) == 1  # found, not fetched
