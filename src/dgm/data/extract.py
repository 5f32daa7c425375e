"""``safe_extract`` for tar/zip archives: every member is validated before anything is written."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError


def _check_member(name: str, root: Path) -> str | None:
    """Why archive member ``name`` may not be written under ``root`` (None when it is safe)."""
    norm = name.replace("\\", "/")  # zip files from Windows may use backslashes; treat them as separators
    if not norm or norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "is an absolute path"
    if ".." in norm.split("/"):
        return "contains '..'"
    target = os.path.realpath(root / norm)  # realpath also follows symlinks already present under root
    if os.path.commonpath([target, str(root)]) != str(root):
        return "resolves outside the destination"
    return None


def _tar_members(archive: Path, root: Path):
    import tarfile

    try:
        tf = tarfile.open(archive, "r:*")
        members = tf.getmembers()  # reads the whole index: a truncated archive fails here, before any write
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        raise DataError(f"{archive} is truncated or not a tar archive ({e}); delete it and fetch it again") from None
    for m in members:
        if m.issym() or m.islnk():
            reason = "is a symlink or hardlink"
        elif not (m.isreg() or m.isdir()):
            reason = "is a device, fifo or other special file"
        else:
            reason = _check_member(m.name, root)
        if reason:
            tf.close()
            raise DataError(f"refusing to extract {archive}: member {m.name!r} {reason}; nothing was extracted")
    return tf, members


def _zip_members(archive: Path, root: Path):
    import stat
    import zipfile

    try:
        zf = zipfile.ZipFile(archive)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as e:  # e.g. "zip version 6.4"
        raise DataError(f"{archive} is truncated or not a zip archive ({e}); delete it and fetch it again") from None
    for info in infos:
        mode = info.external_attr >> 16
        reason = "is a symlink" if stat.S_ISLNK(mode) else _check_member(info.filename, root)
        if reason:
            zf.close()
            raise DataError(f"refusing to extract {archive}: member {info.filename!r} {reason}; nothing was extracted")
    return zf, infos


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a tar(.gz/.bz2/.xz) or zip ``archive`` into ``dest`` after validating EVERY member first.

    Refused (DataError, nothing written): absolute paths, '..' components, symlinks, hardlinks, devices, fifos,
    and any member whose realpath leaves ``dest``. Returns the paths of the regular files extracted.
    """
    import tarfile
    import zipfile

    archive, dest = Path(archive), Path(dest)
    root = Path(os.path.realpath(dest))
    if zipfile.is_zipfile(archive):
        zf, infos = _zip_members(archive, root)
        files = [root / i.filename.replace("\\", "/") for i in infos if not i.is_dir()]
        with zf:
            dest.mkdir(parents=True, exist_ok=True)
            _extracting(archive, files, lambda: zf.extractall(root))
        return files
    tf, members = _tar_members(archive, root)
    files = [root / m.name for m in members if m.isreg()]
    with tf:
        dest.mkdir(parents=True, exist_ok=True)
        # Our checks are stricter than the "data" filter; the filter (Python >= 3.11.4) is a second line of defence.
        if hasattr(tarfile, "data_filter"):
            _extracting(archive, files, lambda: tf.extractall(root, members=members, filter="data"))
        else:  # pragma: no cover - old interpreters
            _extracting(archive, files, lambda: tf.extractall(root, members=members))
    return files


def _extracting(archive: Path, files: list[Path], extract) -> None:
    """Run ``extract``; when a member turns out corrupt (bad CRC, truncated stream, an unsupported zip feature
    such as encryption), remove the files written so far and raise DataError."""
    import tarfile
    import zipfile
    import zlib

    try:
        extract()
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as e:
        for f in files:
            f.unlink(missing_ok=True)
        raise DataError(f"{archive} is corrupt or uses an unsupported feature ({e}); nothing was kept; delete it "
                        "and fetch it again") from None
