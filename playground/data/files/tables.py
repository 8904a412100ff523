"""CSV tables: :func:`read_table` (delimiter sniffed, header detected), :func:`choose_columns`
(``input_columns``/``target_column`` by name or number) and :func:`load_csv`. See
:mod:`playground.data.files` for the rules."""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..base import Dataset, DatasetFileError
from ..regression import RegressionDataset
from ._common import _check_fraction, _check_task, _classification, _existing, _regression

#: Largest CSV file read, in bytes.
MAX_CSV_BYTES = 32 * 2**20  # parsed cell by cell: about 10x this in memory


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

