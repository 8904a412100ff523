"""Opening ResNet-50 in the app and showing its summary: the issue's budget is < 1 s.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_open_resnet.py [--repeat N] [--open-all]

Opens the ``resnet50`` preset (torchvision's layout, 3×224×224 input, ResNetBottleneck
blocks; written by tools/make_architecture_presets.py) and times, in one process:

- ``GraphModel.from_dict``: reading the graph and inferring every shape;
- ``summary()``: the per-node table;
- in the app: ``MainWindow.open_project("resnet50")`` (reading and checking the JSON,
  the canvas items, the docks) up to the summary dock showing its rows and the first paint
  of the window;
- opening one block in place and closing it again (two undoable edits);
- with ``--open-all``, the same with every block open (176 nodes on the canvas).

Blocks start closed, so the canvas shows 24 nodes. The first open in a fresh window is
printed too (the median hides first-time costs). The total parameter count is printed
next to torchvision's published 25,557,032.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.graph import GraphModel, summary  # noqa: E402
from playground.project import load  # noqa: E402

TORCHVISION_RESNET50_PARAMS = 25_557_032  # pytorch.org/vision/stable/models/generated/
#                                           torchvision.models.resnet50.html


FIRST: dict[int, float] = {}  # id(fn) -> its first time


def timed(fn, repeat: int) -> tuple[float, object]:
    """The median time of ``repeat`` calls of ``fn`` and its last result; the first call's
    time goes to ``FIRST[id(fn)]``."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    FIRST[id(fn)] = times[0]
    return statistics.median(times), out


def in_app(repeat: int, open_all: bool) -> dict:
    from playground.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    w = MainWindow(remember_layout=False)
    w.confirm_discard = lambda: True
    w.resize(1600, 1000)
    w.show()
    app.processEvents()
    out = {}

    def open_and_summarise():
        assert w.open_project("resnet50")
        if open_all:
            for n in [n for n in w.model.nodes() if w.model.is_composite(n)]:
                w.canvas.open_block(n)
        w.summary.refresh()        # the dock's coalesced refresh, done now
        w.errors_panel.refresh()
        w.repaint()                # the first paint of the window with everything on it
        app.processEvents()
        return w.summary.table_model.rowCount()

    out["open_project + summary + paint"], rows = timed(open_and_summarise, repeat)
    out["  the first time (fresh window)"] = FIRST[id(open_and_summarise)]
    out["summary rows"] = rows
    out["canvas nodes"] = len(w.canvas.canvas_scene.node_items())

    def toggle_block():
        w.canvas.open_block("layer3_2")
        w.canvas.close_block("layer3_2")
        app.processEvents()

    if not open_all:
        out["open + close one block"], _ = timed(toggle_block, repeat)
    w.shutdown()
    w.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--open-all", action="store_true",
                    help="also open every block (the expanded view)")
    args = ap.parse_args()
    t_read, project = timed(lambda: load("resnet50"), args.repeat)
    graph = project.graph
    t_load, model = timed(lambda: GraphModel.from_dict(graph), args.repeat)
    t_sum, s = timed(lambda: summary(model), args.repeat)
    assert model.errors() == {}, model.errors()
    leaves = sum(model.subgraph(n).leaf_count() if model.is_composite(n) else 1
                 for n in model.nodes())
    print(f"ResNet-50: {len(model)} nodes closed, {leaves} primitive nodes; "
          f"{s.total_params:,} params (torchvision {TORCHVISION_RESNET50_PARAMS:,}), "
          f"{s.total_macs / 1e9:.3f} GMACs")
    print(f"  load('resnet50') (read and check the JSON):    {t_read * 1e3:7.1f} ms")
    print(f"  GraphModel.from_dict (all shapes inferred):    {t_load * 1e3:7.1f} ms")
    print(f"  summary():                                     {t_sum * 1e3:7.1f} ms")
    for open_all in ([False, True] if args.open_all else [False]):
        label = "every block open" if open_all else "blocks closed"
        for key, value in in_app(args.repeat, open_all).items():
            text = f"{value * 1e3:7.1f} ms" if isinstance(value, float) else f"{value:7d}"
            print(f"  in the app, {label}: {key:<32} {text}")


if __name__ == "__main__":
    main()
