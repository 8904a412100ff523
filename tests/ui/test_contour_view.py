"""The contour view (optimizers_race): the landscape's lines, the live path, and the race
in Compare Runs with every run's path on the contour plot."""

from __future__ import annotations

import numpy as np
import pytest

from playground.graph.nodes.optimization import test_function
from playground.project import load
from playground.session import Session
from playground.ui.compare import CompareDialog
from playground.ui.views.base import Frame
from playground.ui.views.contour import ContourView, contour_lines


@pytest.mark.parametrize("function", ["rosenbrock", "beale", "saddle"])
def test_each_contour_line_lies_on_its_level(function):
    lines = contour_lines(function)
    assert len(lines) >= 8
    for level, xy in lines[::3]:
        pts = xy[np.isfinite(xy).all(axis=1)]
        values = test_function(function, pts[:, 0], pts[:, 1])
        # interpolated between grid points 1/160 of the box apart: within a few percent
        # of the level's distance to the minimum
        low = float(test_function(function, *{"rosenbrock": (1, 1), "beale": (3, 0.5),
                                               "saddle": (0, 1)}[function]))
        assert np.median(np.abs(values - level)) < 0.05 * (level - low) + 1e-3, level


def test_the_live_view_draws_the_sessions_path_and_exports_it(qtbot, tmp_path):
    project = load("optimizers_race")
    s = Session(project, timeline=False)
    s.train(200)
    view = ContourView()
    qtbot.addWidget(view)
    view.show()
    view.show_frame(Frame(step=200, views=s.views()), force=True)
    assert view.showing_content()
    line, end = view.contour._runs[0]
    xs, ys = line.getData()
    path = s.views()["nodes"]["landscape"]["path"]
    assert len(xs) == 201 and np.allclose(xs, path[:, 0]) and np.allclose(ys, path[:, 1])
    assert "after 200 steps" in view.caption.text() and "rosenbrock" in view.caption.text()
    assert view.contour.function == "rosenbrock" and len(view.contour._lines) >= 8
    header, rows = view.csv_table()
    assert header == ("step", "x", "y") and rows[0] == (0, -1.5, 2.0)
    view.show_frame(Frame(step=0, views={"nodes": {}}), force=True)
    assert not view.showing_content() and "TestFunction" in view.placeholder_text


def test_compare_runs_on_the_race_runs_six_optimizers_and_draws_their_paths(qtbot):
    dialog = CompareDialog(load("optimizers_race"))
    qtbot.addWidget(dialog)
    labels = [c.label for c in dialog.configs()]
    assert labels == ["SGD", "momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
    assert not dialog.contour.isHidden()
    dialog.steps_spin.setValue(300)
    dialog.start()
    assert dialog.wait(timeout=120)
    assert [r.config.label for r in dialog.results] == labels
    assert len(dialog.contour._runs) == 6
    starts = [run[0].getData()[0][0] for run in dialog.contour._runs]
    assert np.allclose(starts, -1.5)  # one start for all
    ends = {r.config.label: r.extras["path"][-1] for r in dialog.results}
    xs, ys = dialog.contour._runs[5][0].getData()
    assert (xs[-1], ys[-1]) == pytest.approx(tuple(ends["Adam"]))
    assert dialog.result_table.rowCount() == 6
    assert "best val_loss" in dialog.status.text()


def test_the_views_race_button_opens_compare_runs_on_the_race(make_window, qtbot):
    w = make_window("optimizers_race")
    view = w.live_views.views["Contour"]
    view.race_button.click()
    dialog = w.compare_dialog
    assert [c.label for c in dialog.configs()][0] == "SGD" and len(dialog.configs()) == 6
    dialog.steps_spin.setValue(50)
    dialog.start()
    assert dialog.wait(timeout=120)
    dialog.close()
    # the window's view keeps the race's six paths, and the live run's joins them
    assert len(view.contour._runs) == 6 and view.showing_content()
    live = Session(load("optimizers_race"), timeline=False)
    live.train(20)
    view.show_frame(Frame(step=20, views=live.views()), force=True)
    assert len(view.contour._runs) == 7
    assert [label for label, _ in view.contour.paths][-1] == "this run"
    view.show_frame(None, force=True)  # a new document forgets the race
    assert view.race is None


def test_a_project_without_a_test_function_has_no_contour_in_compare_runs(qtbot):
    dialog = CompareDialog(load("xor_mlp"))
    qtbot.addWidget(dialog)
    assert dialog.contour.isHidden()
