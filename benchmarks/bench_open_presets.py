"""Opening every preset in the app: a new window (``playground NAME``) and File ▸ Open.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_open_presets.py [--repeat N]
        [--presets NAME ...]

For each preset, times (median of ``--repeat`` rounds, seconds):

- ``new window``: ``MainWindow(NAME)``, shown at 1366×768, until the canvas shows every
  node, then resized to 1920×1080 until it fits again, and shut down;
- ``open``: ``open_project(NAME)`` in a window already shown at 1366×768, until the canvas
  shows every node.

tests/ui/test_fit.py checks that every preset opens whole, without timing it (a loaded CI
machine makes timed tests fail); this is where the time is measured. Most of a new window's
time is building its docks (the live views' plots), not the canvas. The rounds interleave
the presets, so load from other processes spreads over all of them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.project import preset_names  # noqa: E402

SIZES = [(1366, 768), (1920, 1080)]


def _settle(app, view, limit: float = 60.0) -> None:
    """Process events until every node of ``view`` is on screen (or ``limit`` seconds)."""
    end = time.perf_counter() + limit
    while time.perf_counter() < end:
        app.processEvents()
        seen = view.mapToScene(view.viewport().rect()).boundingRect()
        if all(seen.contains(i.sceneBoundingRect()) for i in view.canvas_scene.node_items()):
            return
    raise RuntimeError("the canvas did not fit its graph within the limit")


def new_window(app, name: str) -> float:
    from playground.ui.main_window import MainWindow

    t0 = time.perf_counter()
    w = MainWindow(name, remember_layout=False)
    w.confirm_discard = lambda: True
    w.resize(*SIZES[0])
    w.show()
    _settle(app, w.canvas)
    w.resize(*SIZES[1])
    _settle(app, w.canvas)
    w.shutdown()
    w.deleteLater()
    app.processEvents()
    return time.perf_counter() - t0


def open_in(app, w, name: str) -> float:
    t0 = time.perf_counter()
    if not w.open_project(name):
        raise RuntimeError(f"{name} did not open")
    _settle(app, w.canvas)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--presets", nargs="*", default=None)
    args = ap.parse_args()
    names = args.presets or preset_names()
    app = QApplication.instance() or QApplication([])
    from playground.ui.main_window import MainWindow

    host = MainWindow(remember_layout=False)
    host.confirm_discard = lambda: True
    host.resize(*SIZES[0])
    host.show()
    app.processEvents()
    fresh: dict[str, list[float]] = {n: [] for n in names}
    opened: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.repeat):
        for name in names:
            fresh[name].append(new_window(app, name))
            opened[name].append(open_in(app, host, name))
    host.shutdown()
    rows = sorted(names, key=lambda n: -statistics.median(fresh[n]))
    print(f"{'preset':28} {'new window s':>13} {'open s':>8}")
    for name in rows:
        print(f"{name:28} {statistics.median(fresh[name]):13.3f} "
              f"{statistics.median(opened[name]):8.3f}")
    total_new = sum(statistics.median(v) for v in fresh.values())
    total_open = sum(statistics.median(v) for v in opened.values())
    print(f"{len(names)} presets, medians of {args.repeat}: new windows {total_new:.1f} s in "
          f"all ({total_new / len(names):.2f} s each), open {total_open:.1f} s in all "
          f"({total_open / len(names):.3f} s each)")


if __name__ == "__main__":
    main()
