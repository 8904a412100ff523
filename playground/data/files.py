"""The user's own data: CSV tables, NPY/NPZ arrays, MNIST-style IDX files and folders of
images by class, read into the same :class:`~playground.data.Dataset` the shipped datasets
are (regression CSVs into a :class:`~playground.data.regression.RegressionDataset`).

Families (the Dataset node's ``dataset`` param, :data:`FAMILIES`):

* ``csv``: a table of numbers, one example per row. ``input_columns`` and
  ``target_column`` pick the columns by header name or 0-based number (``"0-3, 5"``,
  ``"sepal_length, petal_width"``); empty means every column but the target, and the last
  column. The first row is a header when some column is numeric below it but not in it
  (:func:`read_table`). Delimiter: comma, semicolon, tab or spaces (sniffed).
* ``npz``: an ``.npz`` with the inputs and targets under two keys (``input_columns`` and
  ``target_column`` name them; empty: the first of ``x``/``X``/``x_train``/``images``/
  ``data`` and of ``y``/``Y``/``y_train``/``labels``/``target``), or an ``.npy`` 2-D table
  whose columns are picked as a CSV's, or an ``.npy`` of inputs with its targets in a second
  ``.npy`` (``target_path``). A Keras-style ``x_test``/``y_test`` pair beside
  ``x_train``/``y_train`` is the held-out split.
* ``idx``: MNIST's IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): big-endian,
  magic ``0x0000`` + a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D
  float32, 0x0E float64) + the number of dimensions, then each dimension as a uint32. The
  images file (N, H, W) or (N, F) and the labels file (N,) (``target_path``; empty: found
  beside the images by MNIST's names, ``...-images-idx3-ubyte`` -> ``...-labels-idx1-ubyte``),
  optionally gzipped (``.gz``).
* ``image_folder``: one subfolder per class (its name is the class's), images in it
  resized to ``image_size`` x ``image_size``, grayscale or RGB. Decoding images needs an
  image library; the data layer imports numpy only, so the app installs one with
  :func:`set_image_reader` (``playground.ui.image_files`` uses Qt's QImage).

Inputs are float32; one-byte integers (uint8 pixels) are divided by their type's maximum
(255; int8: 127), so pixels lie in [0, 1]; wider integers and floats keep their values. Images come flat, (N, C*H*W) row-major with
``image_shape=(C, H, W)``, as the digits do. Classification targets are mapped to class
indices 0..C-1 in sorted order (numerically when every label is a number), and the class
names are the labels as written.

Held-out split: a file without its own test split holds out ``val_fraction`` of the
examples, stratified by class (a seeded shuffle within each class).

Reading never executes code (``np.load(allow_pickle=False)``), and every size a file claims
(an array header's shape, an IDX file's dimensions) is checked against the bytes it holds
and :data:`MAX_BYTES` before anything is allocated. A bad file raises
:class:`~playground.data.DatasetFileError` (or FileNotFoundError) whose message names the
file and what is wrong in it (for a CSV, the row and column).
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from numpy.lib import format as npy

from .base import Dataset, DatasetFileError, Split
from .regression import RegressionDataset, RegressionSplit

__all__ = ["FAMILIES", "TASKS", "COLORS", "MAX_BYTES", "VAL_FRACTION_RANGE",
           "IMAGE_SIZE_RANGE", "IMAGE_SUFFIXES", "Table", "ArrayInfo", "load_file",
           "load_csv", "load_arrays", "load_idx", "load_image_folder", "read_table",
           "array_infos", "idx_info", "choose_columns", "X_KEYS", "Y_KEYS",
           "labels_path_for", "image_folder_classes", "set_image_reader", "image_reader",
           "stamp"]

#: Dataset-node ``dataset`` values read from the user's files, with a one-line doc each.
FAMILIES = {
    "csv": "a CSV table: one example per row, input columns and a target column",
    "npz": "NPY/NPZ arrays: inputs and targets by key, or an .npy table",
    "idx": "MNIST-style IDX files: images and labels",
    "image_folder": "a folder of images, one subfolder per class",
}
TASKS = ("classification", "regression")
COLORS = ("grayscale", "rgb")
#: Largest array (or table as float32) a file may hold, in bytes.
MAX_BYTES = 2 * 2**30
#: Largest CSV file read, in bytes.
MAX_CSV_BYTES = 32 * 2**20  # parsed cell by cell: about 10x this in memory
VAL_FRACTION_RANGE = (0.05, 0.5)
IMAGE_SIZE_RANGE = (4, 256)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".webp")
_MAX_HEADER = 10_000
#: The keys an .npz's inputs and targets are looked for under, in order.
X_KEYS = ("x", "X", "x_train", "images", "data", "inputs", "features")
Y_KEYS = ("y", "Y", "y_train", "labels", "target", "targets")
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


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


# --------------------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class Table:
    """The cells of a CSV file (as text) and what was detected.

    Attributes:
        columns: the C column names: the header's, or ``"0"``, ``"1"``, ... without one.
        rows: the data rows, each C cells (ragged rows are refused when read).
        has_header: whether the first line was taken as the header.
        delimiter: the cell separator found (``","``, ``";"``, ``"\\t"`` or ``" "``).
        numeric: C flags, True for a column whose every cell is a number.
        first_line: the file line number (1-based) of ``rows[0]``, for messages.
    """

    columns: tuple[str, ...]
    rows: list[list[str]]
    has_header: bool
    delimiter: str
    numeric: tuple[bool, ...]
    first_line: int


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t ").delimiter
    except csv.Error:
        return ","


def read_table(path: str | os.PathLike, max_rows: int | None = None) -> Table:
    """The cells of the CSV at ``path`` (the first ``max_rows`` data rows when given: the
    dialog's preview). Blank lines are skipped; cells are stripped.

    Header rule: the first row is a header when it has a non-numeric cell in a column
    whose other cells (in the rows read) are all numbers, or when every one of its cells
    is text and some other row has a number.

    Raises:
        FileNotFoundError: no such file. DatasetFileError: not UTF-8 text, empty, over
        :data:`MAX_CSV_BYTES`, or a row with a different number of cells than the first
        (names the line).
    """
    p = _existing(path, "CSV file")
    if p.stat().st_size > MAX_CSV_BYTES:
        raise DatasetFileError(f"{p}: the CSV file is {p.stat().st_size / 1e6:.0f} MB; at "
                               f"most {MAX_CSV_BYTES // 2**20} MB is read. Save it as .npy "
                               "(numpy.save) instead")
    try:
        with open(p, encoding="utf-8-sig", newline="") as f:
            sample = f.read(64 * 1024)
            f.seek(0)
            delimiter = _sniff(sample)
            reader = csv.reader(f, delimiter=delimiter, skipinitialspace=True)
            lines: list[tuple[int, list[str]]] = []
            for row in reader:
                cells = [c.strip() for c in row]
                if delimiter == " ":
                    cells = [c for c in cells if c]
                if not any(cells):
                    continue
                lines.append((reader.line_num, cells))
                if max_rows is not None and len(lines) > max_rows:
                    break
    except UnicodeDecodeError as exc:
        raise DatasetFileError(f"{p}: not a UTF-8 text file ({exc.reason} at byte "
                               f"{exc.start}); is it a spreadsheet (.xlsx)? Save it as CSV "
                               "first") from None
    except csv.Error as exc:
        raise DatasetFileError(f"{p}: not a readable CSV file: {exc}") from None
    if not lines:
        raise DatasetFileError(f"{p}: the CSV file is empty")
    width = len(lines[0][1])
    for line, cells in lines[1:]:
        if len(cells) != width:
            raise DatasetFileError(f"{p}: row {line} has {len(cells)} cells but row "
                                   f"{lines[0][0]} has {width}; every row needs the same "
                                   "columns (a ragged row, or a comma inside a number?)")
    first, rest = lines[0][1], [cells for _, cells in lines[1:]]
    numeric_below = [bool(rest) and all(_is_number(r[j]) for r in rest) for j in range(width)]
    first_numeric = [_is_number(c) for c in first]
    has_header = any(nb and not fn for nb, fn in zip(numeric_below, first_numeric)) or (
        not any(first_numeric) and any(any(_is_number(c) for c in r) for r in rest))
    if has_header:
        columns = tuple(c or str(j) for j, c in enumerate(first))
        rows, first_line = rest, lines[1][0] if rest else lines[0][0] + 1
    else:
        columns = tuple(str(j) for j in range(width))
        rows, first_line = [first, *rest], lines[0][0]
    if max_rows is not None:
        rows = rows[:max_rows]
    numeric = tuple(bool(rows) and all(_is_number(r[j]) for r in rows) for j in range(width))
    return Table(columns, rows, has_header, delimiter, numeric, first_line)


def _pick_columns(spec: str, columns: Sequence[str], what: str, where: str) -> list[int]:
    """``"0-3, 5"`` or ``"a, b"`` -> column indices (names win over numbers)."""
    out: list[int] = []
    names = {c: j for j, c in enumerate(columns)}
    for part in (s.strip() for s in re.split(r"[,;]", spec)):
        if not part:
            continue
        if part in names:
            out.append(names[part])
            continue
        m = re.fullmatch(r"(\d+)\s*(?:-|\.\.|:)\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi or hi >= len(columns):
                raise DatasetFileError(f"{where}: {what} {part!r} is not a range of columns "
                                       f"0..{len(columns) - 1}")
            out.extend(range(lo, hi + 1))
        elif part.isdigit() and int(part) < len(columns):
            out.append(int(part))
        else:
            raise DatasetFileError(f"{where}: {what} {part!r} is not a column; the columns "
                                   f"are {', '.join(columns[:20])}"
                                   + (" ..." if len(columns) > 20 else "")
                                   + f" (or numbers 0..{len(columns) - 1})")
    return out


def choose_columns(columns: Sequence[str], input_columns: str, target_column: str,
                   where: str) -> tuple[list[int], int]:
    """The input column indices and the target column index that ``input_columns`` and
    ``target_column`` pick from ``columns`` (see the module docstring).

    Raises:
        DatasetFileError: a column that is not there, the target among the inputs, no
            inputs (the message starts with ``where``).
    """
    if target_column.strip():
        picked = _pick_columns(target_column, columns, "target_column", where)
        if len(picked) != 1:
            raise DatasetFileError(f"{where}: target_column must name one column, got "
                                   f"{target_column!r}")
        target = picked[0]
    else:
        target = len(columns) - 1
    inputs = _pick_columns(input_columns, columns, "input_columns", where) \
        if input_columns.strip() else [j for j in range(len(columns)) if j != target]
    if not inputs:
        raise DatasetFileError(f"{where}: no input columns (the file has {len(columns)} "
                               "column(s), and one is the target)")
    if target in inputs:
        raise DatasetFileError(f"{where}: column {columns[target]!r} is both an input and "
                               "the target; take it out of input_columns")
    if len(set(inputs)) != len(inputs):
        raise DatasetFileError(f"{where}: input_columns names a column twice")
    return inputs, target


def _parse_column(table: Table, j: int, where: str) -> np.ndarray:
    out = np.empty(len(table.rows), np.float64)
    for i, row in enumerate(table.rows):
        cell = row[j]
        try:
            out[i] = float(cell)
        except ValueError:
            line = table.first_line + i
            what = "is empty" if not cell else f"holds {cell[:40]!r}, not a number"
            raise DatasetFileError(f"{where}: row {line}, column {table.columns[j]!r} "
                                   f"(number {j}) {what}; inputs must be numbers (fix the "
                                   "cell, or leave the column out of input_columns)") from None
        if not math.isfinite(out[i]):
            raise DatasetFileError(f"{where}: row {table.first_line + i}, column "
                                   f"{table.columns[j]!r} (number {j}) is {cell!r}; inputs "
                                   "must be finite numbers")
    return out


def load_csv(path: str | os.PathLike, *, input_columns: str = "", target_column: str = "",
             task: str = "classification", val_fraction: float = 0.2,
             seed: int = 0) -> Dataset | RegressionDataset:
    """A CSV table as a dataset (see the module docstring for the column rules).

    Returns:
        classification: a Dataset named ``"csv"``, inputs float32 (N, F) with F the input
        columns, targets int64 class indices (labels sorted; ``class_names`` as written),
        ``extras["columns"]`` the input columns' names and ``extras["target_column"]``.
        regression: a RegressionDataset, targets float32 (N, 1).

    Raises:
        FileNotFoundError, DatasetFileError: see :func:`read_table`; a column that is not
        there, a non-numeric or empty input cell (names the row and column), fewer than two
        classes. ValueError: ``task`` or ``val_fraction`` out of range.
    """
    _check_task(task)
    val_fraction = _check_fraction(val_fraction)
    table = read_table(path)
    where = str(Path(path).expanduser())
    if not table.rows:
        raise DatasetFileError(f"{where}: the CSV file has a header but no rows")
    inputs, target = choose_columns(table.columns, input_columns, target_column, where)
    cells = np.empty((len(table.rows), len(inputs)), np.float64)
    for k, j in enumerate(inputs):
        cells[:, k] = _parse_column(table, j, where)
    extras = {"columns": tuple(table.columns[j] for j in inputs),
              "target_column": table.columns[target], "path": where}
    try:
        if task == "regression":
            y = _parse_column(table, target, where)
            return _regression("csv", cells, y, val_fraction, seed, extras)
        labels = [row[target] for row in table.rows]
        if any(not t for t in labels):
            line = table.first_line + next(i for i, t in enumerate(labels) if not t)
            raise DatasetFileError(f"{where}: row {line}, target column "
                                   f"{table.columns[target]!r} is empty")
        return _classification("csv", cells, labels, None, val_fraction, seed, extras=extras)
    except DatasetFileError as exc:
        text = str(exc)
        raise DatasetFileError(text if text.startswith(where) else f"{where}: {text}") from None


# ---------------------------------------------------------------------------- NPY / NPZ


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


# --------------------------------------------------------------------------------- IDX


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


# ------------------------------------------------------------------------ image folders

ImageReader = Callable[[str, int, int], np.ndarray]
_reader: ImageReader | None = None


def set_image_reader(reader: ImageReader | None) -> None:
    """Install the function that decodes images: ``reader(path, size, channels)`` returns
    uint8 (size, size, channels), the image resized to size x size (channels 1: grayscale,
    3: RGB), and raises ValueError for a file it cannot decode."""
    global _reader
    _reader = reader


def image_reader() -> ImageReader | None:
    """The installed image decoder, or None."""
    return _reader


def image_folder_classes(path: str | os.PathLike) -> dict[str, list[Path]]:
    """Class name -> its image files (sorted), for the subfolders of ``path`` that hold
    images (sorted by name). Hidden files and folders are skipped.

    Raises:
        FileNotFoundError, DatasetFileError: not a folder, or no subfolder with images.
    """
    p = _existing(path, "image folder", folder=True)
    out = {}
    for sub in sorted(q for q in p.iterdir() if q.is_dir() and not q.name.startswith(".")):
        files = sorted(f for f in sub.iterdir() if f.is_file() and not f.name.startswith(".")
                       and f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            out[sub.name] = files
    if not out:
        raise DatasetFileError(f"{p}: no subfolder holds images ({', '.join(IMAGE_SUFFIXES)}); "
                               "put each class's images in a subfolder named after it")
    return out


def load_image_folder(path: str | os.PathLike, *, image_size: int = 28,
                      color: str = "grayscale", val_fraction: float = 0.2,
                      seed: int = 0) -> Dataset:
    """A folder of images by class (see the module docstring) as a dataset.

    Shapes: inputs float32 (N, C*S*S) in [0, 1], S = ``image_size``, C = 1 (grayscale) or
    3 (rgb), row-major (C, S, S); ``image_shape=(C, S, S)``.

    Raises:
        FileNotFoundError, DatasetFileError: see :func:`image_folder_classes`; an image
        that cannot be decoded (names it); no image reader installed. ValueError: bad
        ``image_size``, ``color`` or ``val_fraction``.
    """
    lo, hi = IMAGE_SIZE_RANGE
    if isinstance(image_size, bool) or not isinstance(image_size, int) or \
            not lo <= image_size <= hi:
        raise ValueError(f"image_size must be a whole number in [{lo}, {hi}], got "
                         f"{image_size!r}")
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    val_fraction = _check_fraction(val_fraction)
    classes = image_folder_classes(path)
    if _reader is None:
        raise DatasetFileError(f"{path}: no image decoder is installed (the app installs "
                               "Qt's: playground.ui.image_files.install())")
    channels = 1 if color == "grayscale" else 3
    n = sum(len(v) for v in classes.values())
    if n * channels * image_size * image_size * 4 > MAX_BYTES:
        raise DatasetFileError(f"{path}: {n} images of {image_size}x{image_size} take over "
                               f"{MAX_BYTES / 1e9:.1f} GB; choose a smaller image_size")
    x = np.empty((n, channels, image_size, image_size), np.uint8)
    labels = []
    i = 0
    for name, files in classes.items():
        for f in files:
            try:
                img = _reader(str(f), image_size, channels)
            except ValueError as exc:
                raise DatasetFileError(f"{f}: cannot read the image ({exc})") from None
            x[i] = np.asarray(img, np.uint8).reshape(image_size, image_size,
                                                     channels).transpose(2, 0, 1)
            labels.append(name)
            i += 1
    ds = _classification("image_folder", x, labels, (channels, image_size, image_size),
                         val_fraction, seed, extras={"path": str(path)})
    return ds


# --------------------------------------------------------------------------- dispatch


def load_file(family: str, path: str | os.PathLike, *, target_path: str = "",
              input_columns: str = "", target_column: str = "",
              task: str = "classification", image_size: int = 28, color: str = "grayscale",
              val_fraction: float = 0.2, seed: int = 0) -> Dataset | RegressionDataset:
    """Read the user's file of ``family`` (a key of :data:`FAMILIES`); the options a family
    does not read are ignored. See :func:`load_csv`, :func:`load_arrays`, :func:`load_idx`
    and :func:`load_image_folder` for shapes and errors.

    Raises:
        ValueError: an unknown family.
    """
    if family == "csv":
        return load_csv(path, input_columns=input_columns, target_column=target_column,
                        task=task, val_fraction=val_fraction, seed=seed)
    if family == "npz":
        return load_arrays(path, target_path=target_path, input_columns=input_columns,
                           target_column=target_column, task=task,
                           val_fraction=val_fraction, seed=seed)
    if family == "idx":
        return load_idx(path, target_path=target_path, val_fraction=val_fraction, seed=seed)
    if family == "image_folder":
        return load_image_folder(path, image_size=image_size, color=color,
                                 val_fraction=val_fraction, seed=seed)
    raise ValueError(f"unknown file family {family!r}; valid: {', '.join(FAMILIES)}")
