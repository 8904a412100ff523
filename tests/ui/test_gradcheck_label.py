"""The stepper's gradient-check label shows the check's own verdict: "agrees" in green,
"DISAGREES" in red, and how many elements were skipped at a kink."""

from __future__ import annotations

import pytest

from playground.project import load
from playground.session import Session

GREEN, RED = "#66bb6a", "#ef5350"


@pytest.fixture
def panel(qtbot):
    from playground.ui.stepper import StepperPanel
    p = StepperPanel()
    qtbot.addWidget(p)
    return p


def test_an_agreeing_check_is_green_and_counts_its_kinks(panel):
    check = Session(load("cnn_digits"), timeline=False).gradcheck_node("pool1", max_checks=8)
    assert check.passed and check.skipped_kinks > 0  # max-pool ties in the blank margins
    panel.show_gradcheck("pool1", check)
    text = panel.gradcheck_label.text()
    assert "(agrees;" in text and GREEN in text and RED not in text
    assert f"{check.checked} checked" in text
    assert f"{check.skipped_kinks} elements at a kink skipped" in text
    assert panel.gradcheck_result is check and panel.gradcheck_error == check.max_error
    assert "Pass mark: relative error ≤ 1e-06" in panel.gradcheck_label.toolTip()


def test_a_disagreeing_check_is_red(panel, monkeypatch):
    from playground.engine import ops
    right = ops.Tanh.backward
    monkeypatch.setattr(ops.Tanh, "backward", staticmethod(lambda ctx, g: right(ctx, g) * 1.1))
    check = Session(load("xor_mlp"), timeline=False).gradcheck_node("tanh1")
    assert not check.passed
    panel.show_gradcheck("tanh1", check)
    text = panel.gradcheck_label.text()
    assert "DISAGREES" in text and RED in text and "agrees" not in text
    assert f"{check.max_error:.2e}" in text and "kink" not in text
    panel.show_gradcheck("data", None, "node 'data' has no parameters")
    assert panel.gradcheck_error is None and panel.gradcheck_result is None
    assert "no parameters" in panel.gradcheck_label.text()
