"""The Layers view: after real training steps it draws each net's per-layer numbers (the
ones layer_stats computes on the worker), exports them as CSV, opens in front for a deep
net and stays out of the way (with a note) for a shallow one."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from playground.ui.main_window import MainWindow  # noqa: E402


@pytest.fixture
def window(make_window):
    """``window(name, steps)``: conftest's shown window on preset ``name``, trained
    ``steps`` steps."""

    def make(name: str, steps: int) -> MainWindow:
        w = make_window(name)
        w._ensure_session()
        w.train_steps_sync(steps)
        return w

    return make


def _draw(w: MainWindow):
    c = w.live_views
    c.docks["Layers"].show()
    c.docks["Layers"].raise_()
    view = c.views["Layers"]
    view.show_frame(c.frame, force=True)
    return view


def test_layers_view_draws_both_nets_numbers_and_exports_them(window, tmp_path):
    w = window("resnet_vs_plain", 3)
    assert w.live_views.docks["Layers"].isVisible()  # a deep net: the view opens
    view = _draw(w)
    assert view.showing_content(), view.placeholder_text
    groups = w.live_views.frame.nodes["layers"]["groups"]
    assert [g.name for g in groups] == ["plain", "res"]
    for g in groups:
        assert len(g.nodes) == 20
        xs, ys = view.curves[g.name]["grad_norm"].getData()
        np.testing.assert_array_equal(xs, np.arange(1, 21))
        np.testing.assert_allclose(10 ** ys, g.grad_norm, rtol=1e-6)  # (a log axis)
        _, std = view.curves[g.name]["act_std"].getData()
        np.testing.assert_allclose(10 ** std, g.act_std, rtol=1e-6)
    plain, res = groups
    assert plain.grad_norm[0] < 1e-3 * res.grad_norm[0]  # the picture the lesson is about
    assert "plain" in view.key.text and "res" in view.key.text
    assert "2 nets" in view.caption.text()
    path = view.export_csv(tmp_path / "layers.csv")
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["net", "layer", "node", "activation", "act_std", "act_mean",
                       "saturated", "grad_norm"]
    assert len(rows) == 41 and rows[1][:3] == ["plain", "1", "plain1"]
    assert float(rows[1][7]) == pytest.approx(plain.grad_norm[0], rel=1e-6)


def test_a_shallow_net_gets_no_layers_view(window):
    w = window("digits_mlp", 2)
    assert "layers" not in w.live_views.frame.nodes
    assert not w.live_views.docks["Layers"].isVisible()
    view = _draw(w)
    assert not view.showing_content()
    assert "8 or more" in view.placeholder_text
