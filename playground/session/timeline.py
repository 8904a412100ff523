"""The timeline: compact snapshots of a run, every k steps, in bounded memory.

Each :class:`TimelineEntry` holds what the views need to show that step: the metrics, the
gradient health, per-node histograms, the decision boundary (2-D data) and the recipe's
views (GAN samples, VAE latent codes). No weights are kept: scrubbing back shows the past,
and training goes on from the live state.

Memory stays bounded however long the run: when the ring holds ``capacity`` entries, every
other one is dropped and k doubles, so the entries always span the whole run at an even
spacing (steps that are multiples of k).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .health import Health, Histogram

#: Most entries kept.
TIMELINE_CAPACITY = 200
#: Steps between entries at the start of a run (it doubles as the run grows).
TIMELINE_INTERVAL = 10


@dataclass(frozen=True)
class TimelineEntry:
    """What the views show at one step. Immutable; safe to read from any thread.

    Attributes:
        step: the training step it was taken after.
        metrics: the metrics of that step (and the latest held-out ones).
        health: gradient health (see :class:`playground.session.health.Health`).
        histograms: ``{node: {"activation" | "gradient" | "weight": Histogram}}``.
        boundary: the decision boundary (2-D data), at a coarser grid than the live one.
        views: the recipe's views (see ``Session.views``).
    """

    step: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    health: Health | None = None
    histograms: Mapping[str, Mapping[str, Histogram]] = field(default_factory=dict)
    boundary: Any = None
    views: Mapping[str, Any] = field(default_factory=dict)

    def nbytes(self) -> int:
        """Bytes held in arrays (histograms, boundary, views), for the memory bound."""
        total = sum(h.counts.nbytes for hs in self.histograms.values() for h in hs.values())
        if self.boundary is not None:
            total += self.boundary.probs.nbytes
        for v in self.views.values():
            total += _nbytes(v)
        return total


def _nbytes(v: Any) -> int:
    if isinstance(v, np.ndarray):
        return v.nbytes
    if isinstance(v, Mapping):
        return sum(_nbytes(x) for x in v.values())
    if isinstance(v, (tuple, list)):
        return sum(_nbytes(x) for x in v)
    return getattr(v, "nbytes", 0) if not isinstance(v, (int, float, str)) else 0


class Timeline:
    """A ring of at most ``capacity`` entries, one every ``interval`` steps.

    Raises:
        ValueError: capacity < 2 or interval < 1.
    """

    def __init__(self, capacity: int = TIMELINE_CAPACITY, interval: int = TIMELINE_INTERVAL):
        if capacity < 2:
            raise ValueError(f"timeline capacity must be ≥ 2, got {capacity}")
        if interval < 1:
            raise ValueError(f"timeline interval must be ≥ 1, got {interval}")
        self.capacity = capacity
        self.start_interval = interval
        self.interval = interval
        self._entries: list[TimelineEntry] = []
        self._steps: list[int] = []
        self._frozen: tuple[TimelineEntry, ...] | None = ()

    def __len__(self) -> int:
        return len(self._entries)

    def due(self, step: int) -> bool:
        """Whether step ``step`` gets an entry."""
        return step % self.interval == 0

    def widen(self, interval: int) -> None:
        """Space entries at least ``interval`` steps apart from now on (doubling k, and
        thinning what is kept to match)."""
        while self.interval < interval:
            self._thin()

    def _thin(self) -> None:
        """Double k and keep the entries on the new grid, or the newest one when none is
        on it: a timeline that has recorded something never becomes empty (a slow machine
        can widen k past the whole run)."""
        self.interval *= 2
        keep = [e for e in self._entries if e.step % self.interval == 0] or \
            self._entries[-1:]
        self._entries = keep
        self._steps = [e.step for e in keep]
        self._frozen = None

    def record(self, entry: TimelineEntry) -> None:
        """Append ``entry`` (its step must be later than the last one's)."""
        if self._steps and entry.step <= self._steps[-1]:
            raise ValueError(f"timeline entry for step {entry.step} after step "
                             f"{self._steps[-1]}")
        self._entries.append(entry)
        self._steps.append(entry.step)
        self._frozen = None
        while len(self._entries) > self.capacity:
            self._thin()

    def steps(self) -> np.ndarray:
        """The steps that have entries, ascending (int64)."""
        return np.array(self._steps, dtype=np.int64)

    def entries(self) -> tuple[TimelineEntry, ...]:
        """All entries, oldest first (a tuple: share it with the UI as is)."""
        if self._frozen is None:
            self._frozen = tuple(self._entries)
        return self._frozen

    def at(self, step: int) -> TimelineEntry | None:
        """The entry nearest ``step`` (the earlier one on a tie), or None when empty."""
        if not self._entries:
            return None
        i = bisect.bisect_left(self._steps, step)
        if i == 0:
            return self._entries[0]
        if i == len(self._steps):
            return self._entries[-1]
        before, after = self._steps[i - 1], self._steps[i]
        return self._entries[i - 1] if step - before <= after - step else self._entries[i]

    def latest(self) -> TimelineEntry | None:
        return self._entries[-1] if self._entries else None

    def nbytes(self) -> int:
        return sum(e.nbytes() for e in self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._steps.clear()
        self.interval = self.start_interval
        self._frozen = ()
