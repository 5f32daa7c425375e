"""A small reader for MATLAB 5 MAT-files (as written by MATLAB 5-7 and scipy.io.savemat): numeric arrays only.

Enough for Frey Face and SVHN without making scipy a dependency. Cells, structs, chars and sparse arrays are
skipped; v7.3 files (HDF5) are refused.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ...errors import DataError
from .idx import read_bytes

# MAT-5 element types -> numpy dtypes (little-endian codes; byte order is applied when reading)
MI_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
MX_CLASSES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
MI_MATRIX, MI_COMPRESSED = 14, 15


def _elements(buf: memoryview, pos: int, order: str):
    """Yield (type, payload view) for each data element of a MAT-5 byte stream, from ``pos`` on (no copies)."""
    while pos + 8 <= len(buf):
        first, second = struct.unpack(order + "II", buf[pos : pos + 8])
        if first >> 16:  # "small data element": size and type share the first word, payload in the second
            yield first & 0xFFFF, buf[pos + 4 : pos + 4 + (first >> 16)]
            pos += 8
            continue
        if pos + 8 + second > len(buf):
            raise ValueError("element runs past the end of the file")
        yield first, buf[pos + 8 : pos + 8 + second]
        pos += 8 + (second if first == MI_COMPRESSED else -(-second // 8) * 8)  # payloads pad to 8 bytes


def _matrix(payload: memoryview, order: str) -> tuple[str, np.ndarray] | None:
    """(name, array) of a numeric miMATRIX element; None for cells, structs, chars and sparse arrays."""
    parts = list(_elements(payload, 0, order))
    if len(parts) < 4:
        return None
    (_, flags), (_, dims), (_, name), (rtype, real) = parts[:4]
    cls = struct.unpack(order + "I", flags[:4])[0] & 0xFF
    if cls not in MX_CLASSES or rtype not in MI_TYPES:
        return None
    shape = struct.unpack(order + "i" * (len(dims) // 4), dims)
    values = np.frombuffer(real, dtype=np.dtype(MI_TYPES[rtype]).newbyteorder(order))
    values = values.astype(MX_CLASSES[cls], copy=False)  # e.g. doubles stored compactly as uint8
    return bytes(name).decode("latin1"), values.reshape(shape, order="F")  # MATLAB stores column-major


def read_mat5(path: Path) -> dict[str, np.ndarray]:
    """The numeric variables of a MATLAB 5 MAT-file (compressed or not) as numpy arrays in MATLAB's shape."""
    raw = read_bytes(path)  # also accepts a gzipped copy (``locate`` finds NAME.gz)
    if len(raw) < 128 or not raw.startswith(b"MATLAB 5.0 MAT-file"):
        raise DataError(f"{path} is not a MATLAB 5 MAT-file; delete it and fetch it again")
    order = "<" if raw[126:128] == b"IM" else ">"
    buf = memoryview(raw)  # slicing views, not copies: SVHN's train file is 180 MB
    out: dict[str, np.ndarray] = {}
    try:
        for etype, payload in _elements(buf, 128, order):
            if etype == MI_COMPRESSED:
                etype, payload = next(_elements(memoryview(zlib.decompress(payload)), 0, order))
            if etype == MI_MATRIX and (m := _matrix(payload, order)) is not None:
                out[m[0]] = m[1]
    except (ValueError, struct.error, zlib.error, StopIteration) as e:
        raise DataError(f"{path} is truncated or corrupt ({e}); delete it and fetch it again") from None
    return out
