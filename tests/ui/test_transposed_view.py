"""The Transposed convolution dock (transposed_conv_demo): the seed's 2×2 input upsampled to
5×5, a clicked output cell traced to its terms, edits recomputed by the engine."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from playground.project import load, preset_names
from playground.session.transposed import trace_transposed
from playground.ui.lesson_browser import lesson_groups

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


def test_the_demo_opens_on_the_dock_with_the_5x5_output(make_window, qtbot):
    w = make_window("transposed_conv_demo")
    panel = w.transposed_panel
    qtbot.waitUntil(lambda: panel.trace is not None, timeout=HANG_MS)
    assert w.transposed_dock.isVisible() and not w.transposed_dock.visibleRegion().isEmpty()
    assert np.array_equal(panel.values(panel.input_table), [[1, 2], [3, 4]])
    assert panel.output_table.rowCount() == 5 and panel.output_table.columnCount() == 5
    out = panel.values(panel.output_table)
    want = trace_transposed([[1, 2], [3, 4]], np.arange(1, 10).reshape(3, 3), stride=2)
    assert np.array_equal(out, want.output[0])
    # it opens on the centre cell: four terms, 1·9 + 2·7 + 3·3 + 4·1 = 36
    assert panel.picked == (2, 2)
    text = panel.terms_label.text()
    assert "1·9 + 2·7 + 3·3 + 4·1 = <b>36</b>" in text and "4 terms" in text


def test_clicking_an_output_cell_lists_its_terms_and_marks_their_cells(make_window, qtbot):
    w = make_window("transposed_conv_demo")
    panel = w.transposed_panel
    qtbot.waitUntil(lambda: panel.trace is not None, timeout=HANG_MS)
    table = panel.output_table
    rect = table.visualItemRect(table.item(0, 2))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.picked == (0, 2)
    assert "x[0, 0]·w[0, 2] + x[0, 1]·w[0, 0]" in panel.terms_label.text()
    assert "1·3 + 2·1 = <b>5</b>" in panel.terms_label.text()
    marked = {(r, c) for r in range(2) for c in range(2)
              if panel.input_table.item(r, c).background().style() != Qt.BrushStyle.NoBrush}
    assert marked == {(0, 0), (0, 1)}
    marked_k = {(r, c) for r in range(3) for c in range(3)
                if panel.kernel_table.item(r, c).background().style() != Qt.BrushStyle.NoBrush}
    assert marked_k == {(0, 2), (0, 0)}
    panel.pick_input(1, 1)  # x[1, 1] scatters into rows 2-4, columns 2-4
    assert "9 output cells" in panel.terms_label.text()


def test_editing_the_kernel_or_the_node_recomputes_with_the_engine(make_window, qtbot):
    w = make_window("transposed_conv_demo")
    panel = w.transposed_panel
    qtbot.waitUntil(lambda: panel.trace is not None, timeout=HANG_MS)
    panel.kernel_table.item(0, 0).setText("1")  # (an edit through the grid)
    panel.set_values("kernel", np.ones((3, 3)))
    assert np.array_equal(panel.values(panel.output_table),  # the checkerboard of overlaps
                          [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [4, 4, 10, 6, 6],
                           [3, 3, 7, 4, 4], [3, 3, 7, 4, 4]])
    panel.kernel_table.item(1, 1).setText("5")
    assert panel.values(panel.output_table)[1, 1] == 5  # x[0, 0]·w[1, 1] = 1·5
    w.model.set_param("up", "padding", 1)
    qtbot.waitUntil(lambda: panel.output_table.rowCount() == 3, timeout=HANG_MS)
    assert np.array_equal(panel.values(panel.kernel_table)[1], [1, 5, 1])  # kept
    with pytest.raises(ValueError, match="the kernel grid is 3×3"):
        panel.set_values("kernel", np.ones((2, 2)))


def test_a_graph_without_a_transposed_convolution_says_so(make_window, qtbot):
    w = make_window("xor_mlp")
    panel = w.transposed_panel
    qtbot.waitUntil(lambda: "No ConvTranspose2d" in panel.header.text(), timeout=HANG_MS)
    assert panel.trace is None and panel.output_table.rowCount() == 0
    assert not w.transposed_dock.isVisible()  # no tab for it in this lesson


def test_a_graph_with_data_and_a_transposed_convolution_keeps_the_tab_behind(make_window,
                                                                           qtbot):
    w = make_window("dcgan_digits")
    qtbot.waitUntil(lambda: w.transposed_panel.trace is not None, timeout=HANG_MS)
    assert not w.transposed_dock.isHidden()  # tabbed, not brought to the front


def test_the_lesson_browser_lists_the_demo_under_vision():
    projects = {n: load(n) for n in preset_names()}
    groups = dict(lesson_groups(projects))
    assert "transposed_conv_demo" in groups["Vision"]
    assert "lenet5" not in groups["Vision"]  # an architecture without a topic stays apart
