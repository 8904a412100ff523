"""A run's history to CSV: one row per step, one column per metric, blanks where a metric
was not recorded, values that read back to the recorded floats."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from playground.project import load
from playground.session import Session
from playground.session.history import History, history_csv


def _read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_columns_rows_and_blanks(tmp_path):
    h = History()
    h.record(1, {"loss": 0.5, "accuracy": 0.25, "step": 1})
    h.record(2, {"loss": 0.4})
    h.record(3, {"loss": 0.3, "val_loss": 0.35})
    header, rows = _read(h.to_csv(tmp_path / "run.csv"))
    assert header == ["step", "loss", "accuracy", "val_loss"]
    assert rows == [["1", "0.5", "0.25", ""], ["2", "0.4", "", ""], ["3", "0.3", "", "0.35"]]


def test_a_full_ring_writes_its_newest_values_in_step_order(tmp_path):
    h = History(capacity=4)
    for step in range(1, 11):
        h.record(step, {"loss": 1.0 / step})
    header, rows = _read(h.to_csv(tmp_path / "ring.csv"))
    assert [int(r[0]) for r in rows] == [7, 8, 9, 10]
    assert [float(r[1]) for r in rows] == pytest.approx([1 / 7, 1 / 8, 1 / 9, 1 / 10],
                                                        rel=1e-8)


def test_a_real_run_reads_back_exactly(tmp_path):
    session = Session(load("xor_mlp"))
    for _ in range(12):
        session.step()
    arrays = session.history.copy_arrays()
    header, rows = _read(history_csv(arrays, tmp_path / "xor.csv"))
    assert header[0] == "step" and "loss" in header and "accuracy" in header
    steps, losses = arrays["loss"]
    assert [int(r[0]) for r in rows] == sorted(set(int(s) for s in np.concatenate(
        [a[0] for a in arrays.values()])))
    col = header.index("loss")
    got = {int(r[0]): float(r[col]) for r in rows if r[col]}
    for step, value in zip(steps, losses):
        assert np.float32(got[int(step)]) == np.float32(value)  # 9 digits: float32-exact


def test_an_unwritable_path_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        history_csv({"loss": (np.array([1.0]), np.array([0.5]))}, tmp_path / "no" / "x.csv")
