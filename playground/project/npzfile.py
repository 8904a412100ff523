"""A safe reader for weights files (``.npz``), without ``np.load``.

Every array is checked on what the file claims before any memory is spent on it: the zip
member must be a plain or deflated ``.npy`` (not encrypted, no other compression method),
its header must describe a floating-point array (never an object array: no pickle), and
the header's shape times the item size must equal the member's size, which must fit the
memory budget. A header that claims 40 GB in a 1 kB member is refused without allocating.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy

from .errors import ProjectError
from .limits import MAX_WEIGHT_ARRAYS, format_bytes, memory_budget, open_regular

#: numpy's own bound on an .npy header (bytes), as ``np.load``'s ``max_header_size``.
_MAX_HEADER = 10_000
#: What can go wrong reading a member; each becomes a ProjectError naming the array.
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError,
                RuntimeError, struct.error, TypeError, SyntaxError, OverflowError, KeyError)


def sha256_file(f: BinaryIO) -> str:
    """Hex SHA-256 of an open file's bytes from the start; leaves it at the start."""
    f.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
    f.seek(0)
    return digest.hexdigest()


def read_npz(path: Path, budget: int | None = None,
             want_digest: bool = False) -> tuple[dict[str, np.ndarray], str | None]:
    """The arrays of a weights file, and (with ``want_digest``) its SHA-256.

    Arrays come back in native byte order and C layout, keyed by member name without
    ``.npy``. ``budget`` bounds the total bytes (default :func:`memory_budget`).

    Raises:
        ProjectError: not a regular file, not a zip, a member that is not a floating-point
            .npy array, encrypted, compressed other than by deflate, a header that does not
            match its data, or more than the budget. ``field`` is ``"weights"`` or
            ``"weights.<key>"``.
    """
    budget = memory_budget() if budget is None else budget
    with open_regular(path, budget + (1 << 20), "weights file") as f:
        digest = sha256_file(f) if want_digest else None
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
            raise ProjectError(f"{path}: not a readable weights file: it is not a zip archive "
                               f"of arrays (.npz) ({exc}). An .npy renamed .npz? Delete it to "
                               "start from fresh weights.", "weights") from None
        with zf:
            infos = zf.infolist()
            if len(infos) > MAX_WEIGHT_ARRAYS:
                raise ProjectError(f"{path}: holds {len(infos)} members; a weights file holds "
                                   f"at most {MAX_WEIGHT_ARRAYS} arrays", "weights")
            out: dict[str, np.ndarray] = {}
            total = 0
            for info in infos:
                arr = _read_member(zf, info, path, budget - total)
                total += arr.nbytes
                out[info.filename[:-4]] = arr
    return out, digest


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path,
                 left: int) -> np.ndarray:
    name = info.filename
    key = name[:-4] if name.endswith(".npy") else name
    where, field = f"{path}: weights[{key!r}]", f"weights.{key}"
    advice = "Delete the weights file to start from fresh weights."
    if info.is_dir() or not name.endswith(".npy"):
        raise ProjectError(f"{path}: not a readable weights file: member {name!r} is not an "
                           f"array (.npy). {advice}", "weights")
    if info.flag_bits & 0x1:
        raise ProjectError(f"{where} is encrypted; weights files are not. {advice}", field)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ProjectError(f"{where} uses zip compression method {info.compress_type}; only "
                           f"stored (0) and deflate (8) are read. {advice}", field)
    if info.file_size > left + _MAX_HEADER:
        raise ProjectError(f"{where} would take {format_bytes(info.file_size)}, over the "
                           f"{format_bytes(left)} left of the memory budget. {advice}", field)
    try:
        with zf.open(info) as m:
            version = npy.read_magic(m)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(m, max_header_size=_MAX_HEADER)
            elif version == (2, 0):
                shape, fortran, dtype = npy.read_array_header_2_0(m, max_header_size=_MAX_HEADER)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            if dtype.hasobject or dtype.kind != "f":
                what = "object (pickled Python objects)" if dtype.hasobject else str(dtype)
                raise ProjectError(f"{where} has dtype {what}; weights must be floating "
                                   f"point. {advice}", field)
            if any(not isinstance(d, int) or d < 0 for d in shape):
                raise ValueError(f"bad shape {shape}")
            nbytes = math.prod(shape) * dtype.itemsize
            held = info.file_size - m.tell()
            if nbytes != held:
                raise ProjectError(f"{where}: its header claims shape {tuple(shape)} "
                                   f"({format_bytes(nbytes)}) but the member holds "
                                   f"{format_bytes(max(held, 0))}. {advice}", field)
            if nbytes > left:
                raise ProjectError(f"{where} would take {format_bytes(nbytes)}, over the "
                                   f"{format_bytes(left)} left of the memory budget. "
                                   f"{advice}", field)
            buf = bytearray(nbytes)
            view, got = memoryview(buf), 0
            while got < nbytes:
                n = m.readinto(view[got:])
                if not n:
                    break
                got += n
            if got != nbytes or m.read(1):  # reading to the end checks the CRC
                raise ValueError("the array's data is truncated")
    except ProjectError:
        raise
    except _READ_ERRORS as exc:
        raise ProjectError(f"{where} is not a readable array ({exc}). {advice}", field) from None
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
