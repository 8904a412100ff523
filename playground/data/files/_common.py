"""What the user's-file readers share: the size and option limits, the checks of a path and
of the options, the seeded stratified held-out split, labels to class indices, inputs to
float32 (uint8 pixels to [0, 1]), images or features from an array's shape, the Dataset
they build, and :func:`stamp` for the caches that reload an edited file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..base import Dataset, DatasetFileError, Split
from ..regression import RegressionDataset, RegressionSplit

TASKS = ("classification", "regression")
COLORS = ("grayscale", "rgb")
#: Largest array (or table as float32) a file may hold, in bytes.
MAX_BYTES = 2 * 2**30
VAL_FRACTION_RANGE = (0.05, 0.5)
IMAGE_SIZE_RANGE = (4, 256)


def stamp(path: str | os.PathLike) -> tuple[int, int]:
    """``(mtime in ns, size in bytes)`` of a file, or of a folder's newest entry and entry
    count; ``(0, 0)`` when missing. A cache keyed on it reloads an edited file."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return (0, 0)
    if p.is_dir():
        newest, count = st.st_mtime_ns, 0
        for sub in p.iterdir():
            try:
                newest = max(newest, sub.stat().st_mtime_ns)
            except OSError:
                continue
            count += 1
        return (newest, count)
    return (st.st_mtime_ns, st.st_size)


# ------------------------------------------------------------------------------ checks


def _existing(path: str | os.PathLike, what: str, folder: bool = False) -> Path:
    if not str(path).strip():
        raise DatasetFileError(f"no {what} chosen: set the Dataset node's path (or use File "
                               "▸ Import Data…)")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if folder and not p.is_dir():
        raise DatasetFileError(f"{p}: the {what} must be a folder (one subfolder per class)")
    if not folder and not p.is_file():
        raise DatasetFileError(f"{p}: the {what} must be a regular file, not a folder or "
                               "device")
    return p


def _check_fraction(val_fraction: float) -> float:
    lo, hi = VAL_FRACTION_RANGE
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or \
            not lo <= float(val_fraction) <= hi:
        raise ValueError(f"val_fraction must be a number in [{lo}, {hi}], got {val_fraction!r}")
    return float(val_fraction)


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def _split_index(target: np.ndarray | None, n: int, val_fraction: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out row indices (sorted): ``val_fraction`` of each class (of all rows
    when ``target`` is None), at least one row held out and one kept."""
    if n < 2:
        raise DatasetFileError(f"has {n} example(s); a training and a held-out split need "
                               "at least 2")
    rng = np.random.default_rng([seed, 7])
    groups = [np.arange(n)] if target is None else \
        [np.flatnonzero(target == c) for c in np.unique(target)]
    val = []
    for rows in groups:
        k = int(round(val_fraction * len(rows)))
        if len(rows) > 1:
            k = min(max(k, 1), len(rows) - 1)
        val.append(rng.permutation(rows)[:k])
    val_rows = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    if len(val_rows) == 0:  # every class has a single example
        val_rows = np.sort(rng.permutation(n)[:1])
    is_val = np.zeros(n, bool)
    is_val[val_rows] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _classes(labels: Sequence[Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels (strings or numbers) -> int64 class indices and the sorted class names."""
    arr = np.asarray(labels)
    if arr.dtype.kind in "iub":
        values, index = np.unique(arr, return_inverse=True)
        return index.astype(np.int64).reshape(-1), tuple(str(v) for v in values)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise DatasetFileError("has a NaN or infinite class label")
        values, index = np.unique(arr, return_inverse=True)
        names = tuple(str(int(v)) if float(v).is_integer() else f"{v:g}" for v in values)
        return index.astype(np.int64).reshape(-1), names
    texts = [str(v).strip() for v in labels]
    try:
        nums = [float(t) for t in texts]
    except ValueError:
        names = tuple(sorted(set(texts)))
        lookup = {t: i for i, t in enumerate(names)}
        return np.array([lookup[t] for t in texts], dtype=np.int64), names
    index, _ = _classes(np.array(nums))
    names_by_index: dict[int, str] = {}
    for i, t in zip(index, texts):
        names_by_index.setdefault(int(i), t)
    return index, tuple(names_by_index[i] for i in range(len(names_by_index)))


def _as_float(x: np.ndarray) -> np.ndarray:
    """float32 inputs; integer pixels scaled by their type's maximum (uint8: 255)."""
    if x.dtype.kind == "b":
        return x.astype(np.float32)
    if x.dtype.kind in "iu":
        top = np.iinfo(x.dtype).max if x.dtype.itemsize == 1 else 1
        out = x.astype(np.float32)
        return out / np.float32(top) if top != 1 else out
    out = x.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise DatasetFileError("holds NaN or infinite input values (or values too large "
                               "for float32)")
    return out


def _classification(name: str, x: np.ndarray, labels: Sequence[Any] | np.ndarray,
                    image_shape: tuple[int, ...] | None, val_fraction: float, seed: int,
                    val: tuple[np.ndarray, Sequence[Any]] | None = None,
                    extras: dict | None = None) -> Dataset:
    n = len(x)
    x = _as_float(x.reshape(n, -1) if image_shape is not None else x)
    if val is not None:
        vx = _as_float(val[0].reshape(len(val[0]), -1) if image_shape is not None else val[0])
        target, names = _classes(np.concatenate([np.asarray(labels).reshape(-1),
                                                 np.asarray(val[1]).reshape(-1)]))
        train = Split(x, target[:n])
        held = Split(vx, target[n:])
    else:
        target, names = _classes(labels)
        tr, va = _split_index(target, n, val_fraction, seed)
        train, held = Split(x[tr], target[tr]), Split(x[va], target[va])
    if len(names) < 2:
        raise DatasetFileError(f"has one class only ({names[0]!r}); classification needs "
                               "at least two")
    return Dataset(name=name, train=train, val=held, num_classes=len(names),
                   feature_shape=x.shape[1:], image_shape=image_shape, class_names=names,
                   extras=extras or {})


def _regression(name: str, x: np.ndarray, y: np.ndarray, val_fraction: float,
                seed: int, extras: dict | None = None) -> RegressionDataset:
    x = _as_float(x)
    y = _as_float(np.asarray(y, dtype=np.float64)).reshape(-1, 1)
    tr, va = _split_index(None, len(x), val_fraction, seed)
    split = lambda rows: RegressionSplit(x[rows], y[rows], np.zeros(len(rows), bool))  # noqa: E731
    return RegressionDataset(name, split(tr), split(va), (x.shape[1],), {},
                             extras=extras or {})



def _image_shape(x: np.ndarray) -> tuple[int, ...] | None:
    """(N, H, W) -> (1, H, W); (N, C, H, W) with C in 1, 3 -> (C, H, W); (N, H, W, C)
    channels-last is moved first by the caller; else None (plain features)."""
    if x.ndim == 3:
        return (1, *x.shape[1:])
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return tuple(x.shape[1:])
    return None


def _images_or_features(x: np.ndarray, where: str) -> tuple[np.ndarray, tuple | None]:
    if x.ndim == 4 and x.shape[3] in (1, 3) and x.shape[1] not in (1, 3):
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)
    if x.ndim < 2:
        raise DatasetFileError(f"{where}: inputs must be (N, F) or images (N, H, W), got "
                               f"shape {x.shape}")
    shape = _image_shape(x)
    if shape is None and x.ndim > 2:
        x = x.reshape(len(x), -1)
    return x, shape

