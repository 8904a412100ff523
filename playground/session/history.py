"""Ring buffers of training metrics: bounded memory however long a run goes; a run's
curves out to CSV (:func:`history_csv`, :meth:`History.to_csv`)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Mapping

import numpy as np


class RingBuffer:
    """The last ``capacity`` (step, value) pairs of one metric, float64.

    ``steps()`` and ``values()`` return copies in time order, ready for plotting.
    """

    def __init__(self, capacity: int = 20_000):
        if capacity < 1:
            raise ValueError(f"capacity must be ≥ 1, got {capacity}")
        self.capacity = capacity
        self._steps = np.zeros(capacity, dtype=np.float64)
        self._values = np.zeros(capacity, dtype=np.float64)
        self._count = 0  # total appended, ever

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    def append(self, step: int, value: float) -> None:
        i = self._count % self.capacity
        self._steps[i] = step
        self._values[i] = value
        self._count += 1

    def _ordered(self, arr: np.ndarray) -> np.ndarray:
        if self._count <= self.capacity:
            return arr[: self._count].copy()
        i = self._count % self.capacity
        return np.concatenate([arr[i:], arr[:i]])

    def steps(self) -> np.ndarray:
        return self._ordered(self._steps)

    def values(self) -> np.ndarray:
        return self._ordered(self._values)

    def last(self) -> float | None:
        return None if self._count == 0 else float(self._values[(self._count - 1) % self.capacity])

    def last_step(self) -> int | None:
        return None if self._count == 0 else int(self._steps[(self._count - 1) % self.capacity])

    def clear(self) -> None:
        self._count = 0


class History:
    """One :class:`RingBuffer` per metric name, created on first use."""

    def __init__(self, capacity: int = 20_000):
        self.capacity = capacity
        self._buffers: dict[str, RingBuffer] = {}

    def record(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            if name == "step":
                continue
            buf = self._buffers.get(name)
            if buf is None:
                buf = self._buffers[name] = RingBuffer(self.capacity)
            buf.append(step, value)

    def __getitem__(self, name: str) -> RingBuffer:
        return self._buffers[name]

    def __contains__(self, name: str) -> bool:
        return name in self._buffers

    def last_step(self, name: str) -> int | None:
        """The step of ``name``'s newest value, or None if it has none."""
        buf = self._buffers.get(name)
        return None if buf is None else buf.last_step()

    def names(self) -> list[str]:
        return list(self._buffers)

    def copy_arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{metric: (steps, values)}`` copies, for an immutable snapshot."""
        return {n: (b.steps(), b.values()) for n, b in self._buffers.items()}

    def restore(self, arrays: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace the history with ``{metric: (steps, values)}`` (as :meth:`copy_arrays`
        gives; the newest ``capacity`` pairs of each are kept)."""
        self._buffers.clear()
        for name, (steps, values) in arrays.items():
            buf = self._buffers[name] = RingBuffer(self.capacity)
            for step, value in zip(steps[-self.capacity:], values[-self.capacity:]):
                buf.append(int(step), float(value))

    def clear(self) -> None:
        self._buffers.clear()

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the curves to ``path`` as CSV; see :func:`history_csv`."""
        return history_csv(self.copy_arrays(), path)


def history_csv(arrays: Mapping[str, tuple[np.ndarray, np.ndarray]],
                path: str | os.PathLike) -> Path:
    """Write a run's curves ``{metric: (steps, values)}`` (a snapshot's ``history``) as
    CSV: a ``step`` column then one column per metric, in the order given; one row per
    step at which any metric was recorded, in step order; a metric not recorded at a step
    (held-out metrics come every k steps) is an empty cell. Values have 9 significant
    digits, enough to read a float32 back exactly.

    Returns the path. Raises OSError when the file cannot be written.
    """
    path = Path(path)
    names = list(arrays)
    columns: dict[str, dict[int, float]] = {}
    steps: set[int] = set()
    for name in names:
        s, v = arrays[name]
        col = columns[name] = {}
        for step, value in zip(np.asarray(s).tolist(), np.asarray(v).tolist()):
            col[int(step)] = value  # a step recorded twice keeps its newest value
        steps.update(col)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["step", *names])
        for step in sorted(steps):
            w.writerow([step, *(_value(columns[n].get(step)) for n in names)])
    return path


def _value(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.9g}"
