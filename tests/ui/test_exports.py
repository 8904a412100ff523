"""Plots out: every view exports SVG beside PNG and CSV; the summary exports to CSV and
Markdown (the formatting in playground.graph.summary, the buttons on the dock); File ▸
exports the run's history as CSV and the model as PyTorch code."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

from playground.graph import GraphModel, summary  # noqa: E402
from playground.project import load  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def _trained(make_window, name="xor_mlp", steps=30):
    w = make_window(name)
    w.live_views.show_all = True
    w.train_steps_sync(steps)
    return w


def _draw(w, title):
    c = w.live_views
    c.docks[title].show()
    c.docks[title].raise_()
    view = c.views[title]
    view.show_frame(c.frame, force=True)
    return view


def _svg_pixels(path) -> QImage:
    """The SVG drawn by Qt's renderer on white, as an image."""
    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    img = QImage(renderer.defaultSize(), QImage.Format.Format_ARGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    renderer.render(p)
    p.end()
    return img


# ---------------------------------------------------------------------------------- SVG


def test_every_view_has_an_svg_button_between_png_and_csv(make_window):
    w = make_window("xor_mlp")
    for title, view in w.live_views.views.items():
        buttons = [b.text() for b in (view.png_button, view.svg_button, view.csv_button)]
        assert buttons == ["PNG", "SVG", "CSV"], title
        head = view.layout().itemAt(0).layout()
        order = [head.itemAt(i).widget() for i in range(head.count())]
        assert order.index(view.svg_button) == order.index(view.png_button) + 1


def test_curves_and_boundary_export_as_vector_svg(make_window, tmp_path):
    w = _trained(make_window)
    for title in ("Training curves", "Decision boundary"):
        view = _draw(w, title)
        path = view.export_svg(tmp_path / f"{title}.svg")
        root = ET.parse(path).getroot()
        assert root.tag == f"{SVG}svg"
        paths = root.findall(f".//{SVG}path") + root.findall(f".//{SVG}polyline")
        assert len(paths) >= 2, title  # the curves and axes are vectors, not one bitmap
        assert root.find(f".//{SVG}title").text == title
        widget = view.stack.currentWidget()
        assert root.get("viewBox") == f"0 0 {widget.width()} {widget.height()}"
        assert float(root.get("width").rstrip("m")) == pytest.approx(
            widget.width() / 96 * 25.4, rel=1e-3)  # at 96 dpi, as browsers read it
        img = _svg_pixels(path)
        colours = {img.pixel(x, y) for x in range(0, img.width(), 5)
                   for y in range(0, img.height(), 5)}
        assert len(colours) > 10, title  # something was drawn, in several colours


def test_the_loss_curve_is_in_the_svg_as_a_path_with_one_point_per_step(make_window,
                                                                         tmp_path):
    w = _trained(make_window, steps=40)
    view = _draw(w, "Training curves")
    text = view.export_svg(tmp_path / "curves.svg").read_text()
    # Qt writes a polyline as a path "M x,y L x,y ..."; the train loss has 40 points
    counts = [len(re.findall(r"[ML]\s*-?[\d.]+[, ]-?[\d.]+", d))
              for d in re.findall(r' d="([^"]+)"', text)]
    assert max(counts) >= 40


def test_svg_to_a_missing_folder_raises_oserror(make_window, tmp_path):
    w = make_window("xor_mlp")
    view = w.live_views.views["Training curves"]
    with pytest.raises(OSError):
        view.export_svg(tmp_path / "missing" / "x.svg")


# ------------------------------------------------------------------------------ summary


def test_summary_csv_has_every_node_and_the_blocks_insides():
    model = GraphModel.from_dict(load("resnet18").graph)
    s = summary(model)
    rows = list(csv.DictReader(io.StringIO(s.to_csv())))
    top = [r for r in rows if not r["block"] and r["node"] != "total"]
    assert [r["node"] for r in top] == [r.node for r in s.rows]
    inside = [r for r in rows if r["block"] == "layer2_0"]
    assert {r["name"] for r in inside} >= {"conv1", "bn1", "downsample_conv", "add"}
    assert sum(int(r["params"]) for r in inside) == s.row("layer2_0").params
    total = rows[-1]
    assert total["node"] == "total" and int(total["params"]) == s.total_params == 11_689_512
    assert int(total["macs"]) == s.total_macs
    conv = next(r for r in rows if r["node"] == "conv1")
    assert conv["output_shape"] == "(N, 64, 112, 112)"
    assert conv["params_formula"] == "C_out*C_in*K_H*K_W = 64*3*7*7"


def test_summary_markdown_is_a_table_with_a_total():
    s = summary(GraphModel.from_dict(load("cnn_digits").graph))
    lines = s.to_markdown().splitlines()
    assert lines[0] == "| Name | Type | Input shape | Output shape | Params | MACs |"
    assert lines[1] == "| --- | --- | --- | --- | ---: | ---: |"
    body = [ln for ln in lines[2:] if ln.startswith("|")]
    assert len(body) == len(s.rows) + 1
    assert all(ln.count("|") - ln.count("\\|") == 7 for ln in body)
    assert body[-1] == f"| **Total** | | | | **{s.total_params:,}** | **{s.total_macs:,}** |"
    conv = next(ln for ln in body if "| Conv2d |" in ln)
    row = next(r for r in s.rows if r.type == "Conv2d")
    assert f"| {row.params:,} | {row.macs:,} |" in conv


def test_summary_dock_buttons_save_csv_and_markdown(make_window, tmp_path):
    w = make_window("cnn_digits")
    widget = w.summary
    assert (widget.csv_button.text(), widget.markdown_button.text()) == ("CSV", "Markdown")
    s = summary(w.model)
    assert widget.export(tmp_path / "s.csv").read_text() == s.to_csv()
    assert widget.export(tmp_path / "s.md").read_text() == s.to_markdown()
    assert w.export_tools.export_summary(tmp_path / "plain").suffix == ".csv"


# ------------------------------------------------------------------------------ File ▸


def test_file_menu_has_the_exports(make_window):
    w = make_window("xor_mlp")
    file_menu = w.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    for action in (w.export_tools.pytorch_action, w.export_tools.history_action,
                   w.export_tools.summary_action):
        assert action.text() in texts
    assert texts.index(w.export_tools.summary_action.text()) < texts.index(w.quit_action.text())


def test_run_history_csv_from_the_window(make_window, tmp_path):
    w = make_window("xor_mlp")
    with pytest.raises(ValueError, match="train"):
        w.export_tools.export_history(tmp_path / "none.csv")
    w.train_steps_sync(25)
    path = w.export_tools.export_history(tmp_path / "run")
    assert path.suffix == ".csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    assert header[0] == "step" and "loss" in header
    assert [int(r[0]) for r in rows][-1] == 25
    steps, losses = w._last_snapshot.history["loss"]
    col = header.index("loss")
    got = [float(r[col]) for r in rows if r[col]]
    assert got == pytest.approx(list(losses), rel=1e-8)


def test_pytorch_code_from_the_window_carries_the_trained_weights(make_window, tmp_path):
    pytest.importorskip("torch")  # check.py runs the generated code
    import numpy as np

    w = make_window("xor_mlp")
    w.train_steps_sync(20)
    out = w.export_tools.export_pytorch(tmp_path / "code")
    weights = np.load(out / "weights.npz")
    trained = w.session.weights()
    for key, value in trained.items():
        np.testing.assert_array_equal(weights[key], value)
    run = subprocess.run([sys.executable, str(out / "check.py")], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
