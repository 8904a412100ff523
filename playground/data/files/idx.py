"""MNIST's IDX files (LeCun et al., http://yann.lecun.com/exdb/mnist/), plain or gzipped:
:func:`idx_info` reads a header, :func:`load_idx` an images file and its labels file, every
claimed size checked against the bytes held first. See :mod:`playground.data.files`."""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from ..base import Dataset, DatasetFileError
from ._common import MAX_BYTES, _check_fraction, _classification, _existing, _images_or_features
from .arrays import ArrayInfo

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def labels_path_for(images: str | os.PathLike) -> Path:
    """MNIST's labels file beside an images file: ``train-images-idx3-ubyte(.gz)`` ->
    ``train-labels-idx1-ubyte(.gz)`` (also ``images.idx3`` -> ``labels.idx1``)."""
    p = Path(images)
    name = re.sub(r"images?", "labels", p.name, count=1)
    name = re.sub(r"idx[2-4]", "idx1", name, count=1)
    return p.with_name(name)


def _open_idx(p: Path):
    with open(p, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return (gzip.open(p, "rb") if gz else open(p, "rb")), gz


def _idx_header(f, where: str) -> tuple[np.dtype, tuple[int, ...]]:
    head = f.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
        raise DatasetFileError(
            f"{where}: not an IDX file: it starts with bytes {head.hex(' ') or '(none)'}, "
            "an IDX file with 00 00, a type byte (08 uint8, 09 int8, 0b int16, 0c int32, "
            "0d float32, 0e float64) and the number of dimensions")
    ndim = head[3]
    if not 1 <= ndim <= 4:
        raise DatasetFileError(f"{where}: IDX file claims {ndim} dimensions; 1 to 4 are read")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DatasetFileError(f"{where}: IDX header is truncated")
    return _IDX_TYPES[head[2]], struct.unpack(f">{ndim}I", raw)


def idx_info(path: str | os.PathLike) -> ArrayInfo:
    """An IDX file's shape and dtype from its header (magic number and dimensions)."""
    p = _existing(path, "IDX file")
    f, _ = _open_idx(p)
    with f:
        try:
            dtype, dims = _idx_header(f, str(p))
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise DatasetFileError(f"{p}: cannot read the IDX file ({exc})") from None
    return ArrayInfo(p.name, dims, str(dtype.newbyteorder("=")))


def _read_idx(path: Path) -> np.ndarray:
    where = str(path)
    f, gz = _open_idx(path)
    try:
        with f:
            dtype, dims = _idx_header(f, where)
            nbytes = math.prod(dims) * dtype.itemsize
            if nbytes > MAX_BYTES:
                raise DatasetFileError(f"{where}: its header claims shape {dims} "
                                       f"({nbytes / 1e9:.1f} GB); at most "
                                       f"{MAX_BYTES / 1e9:.1f} GB is read")
            if not gz:
                held = path.stat().st_size - 4 - 4 * len(dims)
                if held != nbytes:
                    raise DatasetFileError(f"{where}: its header claims shape {dims} "
                                           f"({nbytes:,} bytes of {dtype.newbyteorder('=')}) "
                                           f"but the file holds {held:,} bytes after it")
            data = f.read(nbytes)
            if len(data) != nbytes or f.read(1):
                raise DatasetFileError(f"{where}: its header claims shape {dims} ({nbytes:,} "
                                       "bytes) but the data is "
                                       + ("shorter" if len(data) != nbytes else "longer"))
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetFileError(f"{where}: cannot read the IDX file ({exc})") from None
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def load_idx(path: str | os.PathLike, *, target_path: str = "", val_fraction: float = 0.2,
             seed: int = 0) -> Dataset:
    """An IDX images file and its labels file as a dataset.

    Shapes: images (N, H, W) -> inputs float32 (N, H*W), ``image_shape=(1, H, W)``; (N, F)
    -> (N, F); labels (N,) integers -> class indices.

    Raises:
        FileNotFoundError: the images or the labels file is missing (names it).
        DatasetFileError: a bad magic number, a truncated or overlong file, labels not
        (N,) integers, N differing between the two files. ValueError: bad ``val_fraction``.
    """
    val_fraction = _check_fraction(val_fraction)
    p = _existing(path, "IDX images file")
    x = _read_idx(p)
    lp = Path(target_path).expanduser() if target_path.strip() else labels_path_for(p)
    if lp == p:
        raise DatasetFileError(f"{p}: set target_path to the labels file (its name does not "
                               "follow MNIST's '-images-idx3-' naming)")
    if not lp.exists():
        raise FileNotFoundError(f"IDX labels file not found: {lp} (set target_path to the "
                                f"labels of {p.name})")
    lp = _existing(lp, "IDX labels file")
    y = _read_idx(lp)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DatasetFileError(f"{lp}: labels must be 1-D integers (N,), got "
                               f"{y.dtype} {y.shape} (is it the images file?)")
    if len(y) != len(x):
        raise DatasetFileError(f"{lp}: {len(y)} labels for the {len(x)} images of {p.name}")
    if x.ndim == 1:
        raise DatasetFileError(f"{p}: images must be (N, H, W) or (N, F), got 1-D {x.shape} "
                               "(is it the labels file?)")
    x, image_shape = _images_or_features(x, str(p))
    try:
        return _classification("idx", x, y, image_shape, val_fraction, seed,
                               extras={"path": str(p), "target_path": str(lp)})
    except DatasetFileError as exc:
        raise DatasetFileError(f"{p}: {exc}") from None

