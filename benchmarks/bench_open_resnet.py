"""Opening ResNet-50 in the app and showing its summary: the issue's budget is < 1 s.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_open_resnet.py [--repeat N] [--open-all]

Builds ResNet-50 (torchvision's layout, 3×224×224 input) from ResNetBottleneck blocks as a
project graph, then times, in one process:

- ``GraphModel.from_dict``: reading the graph and inferring every shape;
- ``summary()``: the per-node table;
- in the app: ``MainWindow.open_project`` on the saved file (reading and checking the JSON,
  the canvas items, the docks) up to the summary dock showing its rows and the first paint
  of the window;
- opening one block in place and closing it again (two undoable edits);
- with ``--open-all``, the same with every block open (~190 nodes on the canvas).

Blocks start closed, so the canvas shows 25 nodes. The total parameter count is printed
next to torchvision's published 25,557,032.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.graph import GraphModel, layout, summary  # noqa: E402
from playground.project import Project, save  # noqa: E402

TORCHVISION_RESNET50_PARAMS = 25_557_032  # docs.pytorch.org/vision/stable/models/resnet.html


def resnet50_graph() -> dict:
    """ResNet-50 as a graph object, blocks closed, laid out left to right."""
    m = GraphModel()
    m.add_node("Input", {"shape": (3, 224, 224)}, node_id="image")
    chain = [("conv1", "Conv2d", {"in_channels": 3, "out_channels": 64, "kernel_size": 7,
                                  "stride": 2, "padding": 3, "bias": False}),
             ("bn1", "BatchNorm2d", {"num_features": 64}),
             ("relu", "ReLU", {}),
             ("maxpool", "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1})]
    cin = 64
    for layer, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2),
                                                      (512, 3, 2)), start=1):
        for k in range(blocks):
            chain.append((f"layer{layer}_{k}", "ResNetBottleneck",
                          {"in_channels": cin, "planes": planes,
                           "stride": stride if k == 0 else 1}))
            cin = planes * 4
    chain += [("avgpool", "AdaptiveAvgPool2d", {"output_size": 1}),
              ("flatten", "Flatten", {}),
              ("fc", "Linear", {"in_features": 2048, "out_features": 1000})]
    prev = "image"
    for node_id, type_name, params in chain:
        m.add_node(type_name, params, node_id=node_id)
        m.connect(prev, "output", node_id, "input")
        prev = node_id
    for n, pos in layout(m).items():
        m.move_node(n, pos)
    return m.to_dict()


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def in_app(graph: dict, repeat: int, open_all: bool) -> dict:
    from playground.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    w = MainWindow()
    w.confirm_discard = lambda: True
    w.resize(1600, 1000)
    w.show()
    app.processEvents()
    path = save(Project(name="resnet50", graph=graph),
                Path(tempfile.mkdtemp()) / "resnet50.json")
    out = {}

    def open_and_summarise():
        assert w.open_project(path)
        if open_all:
            for n in [n for n in w.model.nodes() if w.model.is_composite(n)]:
                w.canvas.open_block(n)
        w.summary.refresh()        # the dock's coalesced refresh, done now
        w.errors_panel.refresh()
        w.repaint()                # the first paint of the window with everything on it
        app.processEvents()
        return w.summary.table_model.rowCount()

    out["open_project + summary + paint"], rows = timed(open_and_summarise, repeat)
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
    t0 = time.perf_counter()
    graph = resnet50_graph()
    build = time.perf_counter() - t0
    t_load, model = timed(lambda: GraphModel.from_dict(graph), args.repeat)
    t_sum, s = timed(lambda: summary(model), args.repeat)
    assert model.errors() == {}, model.errors()
    leaves = sum(model.subgraph(n).leaf_count() if model.is_composite(n) else 1
                 for n in model.nodes())
    print(f"ResNet-50: {len(model)} nodes closed, {leaves} primitive nodes; "
          f"{s.total_params:,} params (torchvision {TORCHVISION_RESNET50_PARAMS:,}), "
          f"{s.total_macs / 1e9:.3f} GMACs")
    print(f"  build the graph (add_node/connect one by one): {build * 1e3:7.1f} ms")
    print(f"  GraphModel.from_dict (all shapes inferred):    {t_load * 1e3:7.1f} ms")
    print(f"  summary():                                     {t_sum * 1e3:7.1f} ms")
    for open_all in ([False, True] if args.open_all else [False]):
        label = "every block open" if open_all else "blocks closed"
        for key, value in in_app(graph, args.repeat, open_all).items():
            text = f"{value * 1e3:7.1f} ms" if isinstance(value, float) else f"{value:7d}"
            print(f"  in the app, {label}: {key:<32} {text}")


if __name__ == "__main__":
    main()
