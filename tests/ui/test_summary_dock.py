"""The summary dock and the errors panel: rows and totals follow the graph live, a closed
block is one row that lists its inside on demand, and choosing a row or an error selects
the node on the canvas."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from playground.graph import GraphModel, summary  # noqa: E402
from playground.project import Project  # noqa: E402
from playground.ui.summary import (MACS, NAME, OUTPUT, PARAMS, PARAMS_FORMULA,  # noqa: E402
                                   SummaryWidget)


def cnn() -> GraphModel:
    m = GraphModel()
    m.add_node("Input", {"shape": (3, 8, 8)}, (0, 0), "x")
    m.add_node("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3,
                          "padding": 1}, (260, 0), "conv1")
    m.add_node("ResNetBasicBlock", {"in_channels": 4, "planes": 4}, (560, 0), "block")
    m.connect("x", "output", "conv1", "input")
    m.connect("conv1", "output", "block", "input")
    return m


def cell(widget: SummaryWidget, row: int, col: int, role=Qt.DisplayRole):
    tm = widget.table_model
    return tm.data(tm.index(row, col), role)


def column(widget: SummaryWidget, col: int) -> list:
    return [cell(widget, r, col) for r in range(widget.table_model.rowCount())]


def test_rows_totals_and_memory_follow_the_graph_live(qtbot):
    m = cnn()
    w = SummaryWidget(m)
    qtbot.addWidget(w)
    s = summary(m)
    assert column(w, NAME) == ["x", "conv1", "▸ block", "Total"]
    conv_params = 3 * 4 * 9 + 4
    assert cell(w, 1, PARAMS) == f"{conv_params:,}"
    assert cell(w, 1, OUTPUT) == "(N, 4, 8, 8)"
    assert cell(w, 1, PARAMS, Qt.ToolTipRole).startswith("params = ")
    assert cell(w, 3, PARAMS) == f"{s.total_params:,}"
    assert cell(w, 3, MACS) == f"{s.total_macs:,}"
    assert f"{4 * s.total_params:,} bytes" in cell(w, 3, PARAMS_FORMULA)
    assert f"{4 * s.total_params:,} bytes" in w.totals.text()

    # an edit: the table follows without being asked
    m.set_param("conv1", "out_channels", 6)
    qtbot.waitUntil(lambda: cell(w, 1, PARAMS) == f"{3 * 6 * 9 + 6:,}")
    assert cell(w, 2, OUTPUT) == "⚠ error"        # the block now gets 6 channels
    assert cell(w, 2, NAME, Qt.ToolTipRole).startswith("ResNetBasicBlock 'block': Conv2d")
    m.add_node("ReLU", node_id="relu")
    qtbot.waitUntil(lambda: "relu" in column(w, NAME))
    m.remove_node("relu")
    qtbot.waitUntil(lambda: "relu" not in column(w, NAME))


def test_a_closed_block_is_one_row_that_lists_its_inside_on_double_click(qtbot):
    m = cnn()
    w = SummaryWidget(m)
    qtbot.addWidget(w)
    block = summary(m).row("block")
    assert cell(w, 2, PARAMS) == f"{block.params:,}"
    assert block.params == sum(c.params for c in block.children) > 0
    w.table.doubleClicked.emit(w.table_model.index(2, NAME))
    names = column(w, NAME)
    assert names[2] == "▾ block" and names[3].strip() == "conv1" and names[3].startswith("    ")
    assert len(names) == 4 + len(block.children)
    assert cell(w, len(names) - 1, PARAMS) == f"{summary(m).total_params:,}"  # not doubled
    w.table.doubleClicked.emit(w.table_model.index(2, NAME))
    assert column(w, NAME) == ["x", "conv1", "▸ block", "Total"]
    # an open block shows its members as rows
    m.open_composite("block")
    qtbot.waitUntil(lambda: "▸ block" not in column(w, NAME))
    names = column(w, NAME)
    assert names[:3] == ["x", "conv1", "block › conv1"] and names[-2] == "block › relu2"
    assert len(names) == 3 + len(block.children)
    assert cell(w, len(names) - 1, PARAMS) == f"{summary(m).total_params:,}"


@pytest.fixture
def window(make_window):
    return make_window(Project(name="cnn", graph=cnn().to_dict()))


def test_selecting_a_row_selects_the_node_and_back(qtbot, window):
    w = window
    table = w.summary.table
    w.summary.refresh()
    row = w.summary.table_model.row_of("conv1")
    rect = table.visualRect(w.summary.table_model.index(row, NAME))
    QTest.mouseClick(table.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    assert w.canvas.canvas_scene.selected_node_ids() == ["conv1"]
    assert w.inspector.node_id == "conv1"
    # the canvas selection shows in the table
    sc = w.canvas.canvas_scene
    sc.clearSelection()
    sc.node_item("block").setSelected(True)
    assert w.summary.selected_node() == "block"


def test_errors_panel_lists_every_error_and_a_click_selects_and_centres_it(qtbot, window):
    w = window
    panel = w.errors_panel
    assert panel.errors() == [] and not panel.list.isVisibleTo(panel)
    w.model.set_param("conv1", "in_channels", 5)
    qtbot.waitUntil(lambda: len(panel.errors()) == 1)
    node, text = panel.errors()[0]
    assert node == "conv1"
    assert text == ("⚠ Conv2d 'conv1' expects 5 input channels, got 3 from 'x'. Set "
                    "in_channels=3.")
    assert w.errors_dock.windowTitle() == "Errors (1)"
    view = w.canvas
    view.centerOn(-5000, -5000)
    item = panel.list.item(0)
    QTest.mouseClick(panel.list.viewport(), Qt.LeftButton, Qt.NoModifier,
                     panel.list.visualItemRect(item).center())
    assert view.canvas_scene.selected_node_ids() == ["conv1"]
    centre = view.mapToScene(view.viewport().rect().center())
    box = view.canvas_scene.node_item("conv1").sceneBoundingRect()
    assert box.adjusted(-5, -5, 5, 5).contains(centre)
    w.model.set_param("conv1", "in_channels", 3)
    qtbot.waitUntil(lambda: panel.errors() == [])
    assert w.errors_dock.windowTitle() == "Errors"


def test_unused_chunk_outputs_are_left_out_not_shown_as_unknown(qtbot):
    m = GraphModel()
    m.add_node("Input", {"shape": (8,)}, (0, 0), "x")
    m.add_node("Chunk", {"chunks": 2, "dim": 1}, (260, 0), "split")
    m.connect("x", "output", "split", "input")
    assert summary(m).row("split").output_shape == "(N, 4), (N, 4)"
    w = SummaryWidget(m)
    qtbot.addWidget(w)
    assert cell(w, 1, OUTPUT) == "(N, 4), (N, 4)"
    m.set_param("split", "chunks", 3)  # 8 = 3 + 3 + 2: three ports used, out3 unused
    qtbot.waitUntil(lambda: cell(w, 1, OUTPUT) == "(N, 3), (N, 3), (N, 2)")


def test_an_inspection_graph_opens_on_the_summary_a_dataset_graph_on_the_curves(qtbot,
                                                                                 window):
    w = window  # cnn(): an Input node, no Dataset: nothing to train

    def shown(dock) -> bool:  # the current tab of its group (all tabs say isVisible())
        return not dock.visibleRegion().isEmpty()

    qtbot.waitUntil(lambda: shown(w.summary_dock))
    assert not shown(w.curves_dock)
    assert w.open_project("xor_mlp")
    qtbot.waitUntil(lambda: shown(w.curves_dock))
    assert not shown(w.summary_dock)
    assert w.open_project("resnet18")
    qtbot.waitUntil(lambda: shown(w.summary_dock))
    qtbot.waitUntil(lambda: w.summary.table_model.rowCount() == len(w.model.nodes()) + 1)
    assert cell(w.summary, len(w.model.nodes()), PARAMS) == "11,689,512"  # the total row
