"""NPY/NPZ arrays: :func:`array_infos` reads and checks every header against the bytes held
before anything is allocated (no pickle), and :func:`load_arrays` picks inputs and targets by
key or as a table's columns. See :mod:`playground.data.files` for which arrays are read."""

from __future__ import annotations

import math
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.lib import format as npy

from ..base import Dataset, DatasetFileError
from ..regression import RegressionDataset
from ._common import (MAX_BYTES, _check_fraction, _check_task, _classification, _existing,
                      _images_or_features, _regression)
from .tables import choose_columns

_MAX_HEADER = 10_000
#: The keys an .npz's inputs and targets are looked for under, in order.
X_KEYS = ("x", "X", "x_train", "images", "data", "inputs", "features")
Y_KEYS = ("y", "Y", "y_train", "labels", "target", "targets")


@dataclass(frozen=True)
class ArrayInfo:
    """What an array's header says, read without loading the data."""

    key: str
    shape: tuple[int, ...]
    dtype: str


def _check_header(f, nbytes_held: int, where: str) -> ArrayInfo:
    """Read an .npy header from ``f`` and check it against ``nbytes_held`` bytes."""
    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(f, max_header_size=_MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy.read_array_header_2_0(f, max_header_size=_MAX_HEADER)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, OSError, EOFError, struct.error, SyntaxError, TypeError) as exc:
        raise DatasetFileError(f"{where} is not a readable .npy array ({exc})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        what = "object (pickled Python objects)" if dtype.hasobject else str(dtype)
        raise DatasetFileError(f"{where} has dtype {what}; only numbers (bool, int, uint, "
                               "float) are read")
    nbytes = math.prod(shape) * dtype.itemsize
    held = nbytes_held - f.tell()
    if nbytes != held:
        raise DatasetFileError(f"{where}: its header claims shape {tuple(shape)} ({nbytes:,} "
                               f"bytes) but it holds {max(held, 0):,}; the file is truncated "
                               "or not an array")
    if nbytes > MAX_BYTES:
        raise DatasetFileError(f"{where}: {nbytes / 1e9:.1f} GB; at most "
                               f"{MAX_BYTES / 1e9:.1f} GB is read")
    return ArrayInfo("", tuple(int(d) for d in shape), str(dtype))


def array_infos(path: str | os.PathLike) -> list[ArrayInfo]:
    """The arrays of an ``.npy`` (one, key ``""``) or ``.npz`` file, from their headers only
    (shapes and dtypes checked against the bytes held, nothing allocated).

    Raises:
        FileNotFoundError, DatasetFileError: not an .npy/.npz, an object or non-numeric
        dtype, a header that does not match the data, a compressed or encrypted member
        other than deflate, more than :data:`MAX_BYTES`.
    """
    p = _existing(path, "array file")
    with open(p, "rb") as f:
        if f.read(6) == b"\x93NUMPY":
            f.seek(0)
            return [_check_header(f, p.stat().st_size, str(p))]
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise DatasetFileError(f"{p}: not an .npy or .npz array file ({exc})") from None
    out = []
    with zf:
        for info in zf.infolist():
            name = info.filename
            where = f"{p}: array {name.removesuffix('.npy')!r}"
            if info.is_dir() or not name.endswith(".npy"):
                raise DatasetFileError(f"{p}: member {name!r} is not an array (.npy)")
            if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                                   zipfile.ZIP_DEFLATED):
                raise DatasetFileError(f"{where} is encrypted or compressed other than by "
                                       "deflate (numpy.savez_compressed)")
            if info.file_size > MAX_BYTES + _MAX_HEADER:
                raise DatasetFileError(f"{where}: {info.file_size / 1e9:.1f} GB; at most "
                                       f"{MAX_BYTES / 1e9:.1f} GB is read")
            try:
                with zf.open(info) as m:
                    head = _check_header(m, info.file_size, where)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) \
                    as exc:
                raise DatasetFileError(f"{where} is not readable ({exc})") from None
            out.append(ArrayInfo(name[:-4], head.shape, head.dtype))
    if not out:
        raise DatasetFileError(f"{p}: the .npz holds no arrays")
    return out


def _np_load(path: Path, key: str | None = None) -> np.ndarray:
    array_infos(path)  # every header checked before np.load allocates
    try:
        if key is None:
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as loaded:
            return loaded[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DatasetFileError(f"{path}: cannot read array {key or ''!r} ({exc})") from None


def _pick_key(keys: Sequence[str], given: str, defaults: Sequence[str], what: str,
              where: str) -> str:
    if given.strip():
        if given.strip() not in keys:
            raise DatasetFileError(f"{where}: no array {given.strip()!r} for the {what}; it "
                                   f"holds {', '.join(keys)}")
        return given.strip()
    for k in defaults:
        if k in keys:
            return k
    raise DatasetFileError(f"{where}: which array holds the {what}? It holds "
                           f"{', '.join(keys)}; name it in "
                           f"{'input_columns' if what == 'inputs' else 'target_column'}")



def load_arrays(path: str | os.PathLike, *, target_path: str = "", input_columns: str = "",
                target_column: str = "", task: str = "classification",
                val_fraction: float = 0.2, seed: int = 0) -> Dataset | RegressionDataset:
    """NPY/NPZ arrays as a dataset (see the module docstring for which arrays are read).

    Shapes: inputs (N, F), (N, H, W), (N, C, H, W) or (N, H, W, C) (C = 1 or 3; images
    come flat with ``image_shape``); targets (N,) labels (classification) or numbers.

    Raises:
        FileNotFoundError, DatasetFileError: see :func:`array_infos`; a missing key, N
        differing between inputs and targets, targets not (N,). ValueError: bad ``task``
        or ``val_fraction``.
    """
    _check_task(task)
    val_fraction = _check_fraction(val_fraction)
    p = _existing(path, "array file")
    infos = array_infos(p)
    val = None
    if len(infos) == 1 and infos[0].key == "":  # an .npy
        x = _np_load(p)
        if target_path.strip():
            tp = _existing(target_path, "targets file (target_path)")
            y = _np_load(tp)
        else:
            if x.ndim != 2:
                raise DatasetFileError(f"{p}: an .npy without target_path must be a 2-D "
                                       f"table (N, columns), got shape {x.shape}; give the "
                                       "targets' .npy in target_path")
            columns = [str(j) for j in range(x.shape[1])]
            inputs, target = choose_columns(columns, input_columns, target_column, str(p))
            x, y = x[:, inputs], x[:, target]
    else:
        keys = [i.key for i in infos]
        xk = _pick_key(keys, input_columns, X_KEYS, "inputs", str(p))
        yk = _pick_key(keys, target_column, Y_KEYS, "targets", str(p))
        x, y = _np_load(p, xk), _np_load(p, yk)
        tx, ty = xk.replace("train", "test"), yk.replace("train", "test")
        if "train" in xk and tx in keys and ty in keys:
            val = (_np_load(p, tx), _np_load(p, ty))
    where = str(p)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise DatasetFileError(f"{where}: targets must be ({len(x)},), one per input, got "
                               f"shape {y.shape}")
    x, image_shape = _images_or_features(x, where)
    try:
        if task == "regression":
            if image_shape is not None:
                x = x.reshape(len(x), -1)
            return _regression("npz", x, y, val_fraction, seed, {"path": where})
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise DatasetFileError("targets are not whole numbers; set task=regression, or "
                                   "give class labels")
        if val is not None:
            vx, _ = _images_or_features(val[0], where)
            vy = val[1][:, 0] if val[1].ndim == 2 and val[1].shape[1] == 1 else val[1]
            if vx.shape[1:] != x.shape[1:] or vy.shape != (len(vx),):
                raise DatasetFileError(f"the test arrays {vx.shape}, {vy.shape} do not match "
                                       f"the training arrays {x.shape}, {y.shape}")
            val = (vx, vy)
        return _classification("npz", x, y, image_shape, val_fraction, seed, val,
                               {"path": where})
    except DatasetFileError as exc:
        text = str(exc)
        raise DatasetFileError(text if text.startswith(where) else f"{where}: {text}") from None

