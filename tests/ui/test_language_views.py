"""The language-model views: Sampling (text at a temperature, its controls reach the
session) and Gradients in time, in the real window on a short real run of char_rnn."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from playground.project import load  # noqa: E402
from playground.session import language_model as lm  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402


@pytest.fixture
def window(qtbot):
    w = MainWindow(load("char_rnn"))
    w.confirm_discard = lambda: True
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    w._ensure_session()
    w.train_steps_sync(30)
    yield w
    w.shutdown()


def draw(w, title):
    c = w.live_views
    c.docks[title].show()
    c.docks[title].raise_()
    view = c.views[title]
    view.show_frame(c.frame, force=True)
    return view


def test_language_model_docks_show_and_the_boundary_hides(window):
    docks = window.live_views.docks
    assert docks["Sampling"].isVisible() and docks["Gradients in time"].isVisible()
    assert not docks["Decision boundary"].isVisible()


def test_sampling_view_shows_the_sessions_text_and_sends_its_controls(window, tmp_path):
    s = window.session
    view = draw(window, "Sampling")
    shown = view.text.toPlainText()
    want = lm.sample(s, s.sampling.prompt, s.sampling.length, s.sampling.temperature,
                     s.sampling.seed)
    assert shown == want and shown.startswith("MENENIUS:")
    assert "temperature 0.8" in view.caption.text()
    view.temperature.setValue(0.0)  # -> Session.set_sampling, and the view refreshes
    assert s.sampling.temperature == 0.0
    view = draw(window, "Sampling")
    assert view.text.toPlainText() == lm.sample(s, "MENENIUS:\n", s.sampling.length, 0.0)
    assert "greedy" in view.caption.text()
    view.again.click()
    assert s.sampling.seed == 1
    view.prompt.setText("CORIOLANUS:\\n")
    view.prompt.editingFinished.emit()
    assert s.sampling.prompt == "CORIOLANUS:\n"
    view = draw(window, "Sampling")
    assert view.text.toPlainText().startswith("CORIOLANUS:\n")
    header, rows = view.csv_table()
    assert header[-1] == "text" and rows[0][0] == "CORIOLANUS:\n"


def test_gradients_in_time_view_plots_the_sessions_norms(window):
    view = draw(window, "Gradients in time")
    norms = lm.grad_norm_through_time(window.session)["norms"]
    x, y = view.curve.getData()
    y = 10.0 ** y  # the curve holds log10 values (a log axis)
    assert len(x) == 64 and x[0] == 1 and x[-1] == 64
    np.testing.assert_allclose(y, np.maximum(norms / norms[-1], 1e-18), rtol=1e-4)
    assert y[-1] == pytest.approx(1.0) and y[0] < 1e-6  # the RNN's gradient has vanished
    assert "RNN 'rnn'" in view.caption.text() and "32 steps back" in view.caption.text()
    header, rows = view.csv_table()
    assert header == ("time_step", "grad_norm") and len(rows) == 64
