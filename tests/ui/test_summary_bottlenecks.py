"""The summary dock's bottleneck line: it says what the 1×1 bottlenecks save, names the
first, lists them all in its tooltip and on the block's row; hidden without any."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from playground.graph import GraphModel, summary  # noqa: E402
from playground.project import load  # noqa: E402
from playground.ui.summary import NAME, PARAMS, SummaryWidget  # noqa: E402


def test_the_dock_names_the_bottlenecks_and_follows_the_graph(qtbot):
    m = GraphModel.from_dict(load("googlenet").graph)
    w = SummaryWidget(m)
    qtbot.addWidget(w)
    s = summary(m)
    saved, direct = sum(b.saved for b in s.bottlenecks), sum(b.direct for b in s.bottlenecks)
    text = w.bottlenecks.text()
    assert not w.bottlenecks.isHidden()
    assert text.startswith(f"<b>18 1×1 bottlenecks</b> save <b>{saved:,}</b> of {direct:,}")
    assert s.bottlenecks[0].text in text and s.bottlenecks[1].text not in text
    assert w.bottlenecks.toolTip().splitlines() == [b.text for b in s.bottlenecks]
    row = w.table_model.row_of("inception3a")
    tip = w.table_model.data(w.table_model.index(row, NAME), Qt.ToolTipRole)
    assert tip.splitlines() == [b.text for b in s.bottlenecks
                                if b.reduce.startswith("inception3a/")]
    assert len(tip.splitlines()) == 2
    tip = w.table_model.data(w.table_model.index(row, PARAMS), Qt.ToolTipRole)
    assert "branch3_reduce/conv → branch3/conv" in tip

    m.load(load("cnn_digits").graph)  # no 1×1 convs: the line goes
    qtbot.waitUntil(lambda: w.bottlenecks.isHidden())
    assert w.bottlenecks.text() == ""
