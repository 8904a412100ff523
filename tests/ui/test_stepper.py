"""The stepper, driven through the toolbar: step an MLP forward through every node and
backward through every op, checking the canvas highlight and the panel's numbers against
the Session's own records; the gradient-health overlay; the gradient check."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402

from playground.graph import Edge, GraphModel  # noqa: E402
from playground.project import load  # noqa: E402
from playground.project.format import from_dict  # noqa: E402
from playground.session import Session  # noqa: E402
from playground.ui.canvas import CanvasView  # noqa: E402
from playground.ui.canvas.style import health_color, health_fraction  # noqa: E402
from playground.ui.commands import OpenCompositeCommand  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402
from playground.ui.tensor_view import format_shape  # noqa: E402




def press(qtbot, window: MainWindow, action) -> None:
    """Click the action's toolbar button, then wait until the panel shows the result."""
    button = window.toolbar.widgetForAction(action)
    assert button is not None and button.isVisible(), action.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.wait_for_stepper(10.0)


def mlp_project(weights):
    """XOR -> Linear(2, 4) -> ReLU -> Linear(4, 2) -> cross-entropy, with given fc1."""
    raw = {
        "schema_version": 1, "name": "relu_mlp",
        "graph": {"nodes": [
            {"id": "data", "type": "Dataset", "params": {"dataset": "xor", "n_samples": 200,
                                                          "noise": 0.0, "seed": 0},
             "pos": [0, 0]},
            {"id": "fc1", "type": "Linear", "params": {"in_features": 2, "out_features": 4},
             "pos": [220, 0]},
            {"id": "act", "type": "ReLU", "params": {}, "pos": [440, 0]},
            {"id": "fc2", "type": "Linear", "params": {"in_features": 4, "out_features": 2},
             "pos": [660, 0]},
            {"id": "loss", "type": "CrossEntropyLoss", "params": {}, "pos": [880, 0]}],
            "edges": [{"src": s, "src_port": sp, "dst": d, "dst_port": dp} for s, sp, d, dp in
                      (("data", "x", "fc1", "input"), ("fc1", "output", "act", "input"),
                       ("act", "output", "fc2", "input"), ("fc2", "output", "loss", "input"),
                       ("data", "target", "loss", "target"))]},
        "training": {"optimizer": "SGD", "lr": 0.1, "batch_size": 32, "seed": 0},
        "recipe": {"type": "supervised"},
    }
    proj = from_dict(raw)
    proj.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
    return proj


def test_step_forward_and_backward_through_xor_mlp(qtbot, make_window):
    w = make_window("xor_mlp")
    st, panel, scene = w.stepper, w.stepper.panel, w.canvas.canvas_scene
    assert st.step_forward_action.shortcut().toString() == "F11"
    assert "F11" in st.step_forward_action.toolTip()
    assert st.step_backward_action.shortcut().toString() == "Shift+F11"
    # the Session's own records on the same (untrained) weights and first batch
    ref = Session(load("xor_mlp"), timeline=False)
    forward = list(ref.forward_steps())
    backward = list(ref.backward_steps())
    stepped = {k: p.grad.copy() for k, p in ref.program.named_parameters()}

    for rec in forward:
        press(qtbot, w, st.step_forward_action)
        assert w.stepper.dock.isVisible()
        assert scene.stepped_node() == rec.node
        assert not scene.node_item(rec.node).is_backward_highlight()
        assert set(panel.input_views) == set(rec.inputs)
        for port, view in panel.input_views.items():
            np.testing.assert_array_equal(view.array(), rec.inputs[port])
        for port, view in panel.output_views.items():
            np.testing.assert_array_equal(view.array(), rec.outputs[port])
        assert sorted(map(str, scene.highlighted_edges())) == \
            sorted(str(Edge(*wire)) for wire in rec.wires)
    # fc1's weight-sized numbers are in a table; the loss is one number
    assert panel.output_views["output"].mode() == "scalar"
    assert float(panel.output_views["output"].scalar_label.text()) == \
        pytest.approx(float(forward[-1].outputs["output"]), rel=1e-3)
    press(qtbot, w, st.step_forward_action)
    assert scene.stepped_node() is None and "Forward pass complete" in panel.title_label.text()

    for rec in backward:
        press(qtbot, w, st.step_backward_action)
        assert scene.stepped_node() == rec.node
        assert scene.node_item(rec.node).is_backward_highlight()
        assert rec.op in panel.title_label.text() and "Jᵀ" in panel.equation_label.text()
        np.testing.assert_allclose(panel.upstream_view.array(), rec.upstream, rtol=1e-6)
        with_grad = [n for n, d in rec.downstream.items() if d is not None]
        lit = {str(Edge(*rec.wires[n])) for n in with_grad if n in rec.wires}
        assert sorted(map(str, scene.highlighted_edges())) == sorted(lit)
        for i, name in enumerate(rec.downstream):
            panel.input_tabs.setCurrentIndex(i)  # the tab of each input
            assert panel.shown_input == name
            if rec.downstream[name] is None:
                assert panel.downstream_view.array() is None
                continue
            np.testing.assert_allclose(panel.downstream_view.array(), rec.downstream[name],
                                       rtol=1e-5, atol=1e-9)
            jac = rec.local_jacobian[name]
            np.testing.assert_allclose(panel.jacobian_view.array(), jac, rtol=1e-5, atol=1e-9)
            # the equation's own check of downstream = J^T upstream
            down, up = rec.downstream[name], rec.upstream
            assert (f"∂L/∂{name} {format_shape(down.shape)} = Jᵀ ({down.size} × {up.size})"
                    in panel.equation_label.text())
            assert "checked: max" in panel.equation_label.text()
    press(qtbot, w, st.step_backward_action)
    assert scene.stepped_node() is None and "Backward pass complete" in panel.title_label.text()

    # stepping to the end leaves backward()'s gradients, in the app as in the reference
    got = w.worker.call(lambda s: {k: p.grad.copy() for k, p in
                                   s.program.named_parameters()}).result(5)
    for p in ref.program.parameters():
        p.grad = None
    ref.recipe.objective(ref.run(ref.feeds(*ref.current_batch()))).backward()
    for k, p in ref.program.named_parameters():
        np.testing.assert_allclose(got[k], p.grad, rtol=1e-6, atol=1e-9, err_msg=k)
        np.testing.assert_array_equal(stepped[k], p.grad, err_msg=k)
    assert w.worker.call(lambda s: s.step_count).result(5) == 0  # nothing was trained


def test_health_overlay_colours_wires_and_marks_a_dead_relu(qtbot, make_window):
    # unit 2's bias of -100 keeps it off for every XOR point: a dead ReLU unit
    weights = {"fc1.weight": [[1, 0], [0, 1], [1, 1], [-1, 0]], "fc1.bias": [0, 0, -100, 0]}
    w = make_window(mlp_project(weights))
    scene = w.canvas.canvas_scene
    assert scene.node_item("act").badges() == []
    press(qtbot, w, w.stepper.health_action)
    assert w.stepper.health_action.isChecked() and w.stepper.legend.isVisible()
    kinds = [k for k, _ in scene.node_item("act").badges()]
    assert kinds == ["dead"]
    assert "25% of units dead" in scene.node_item("act").toolTip()
    assert scene.node_item("fc1").badges() == []
    # the wire into the ReLU carries the ReLU op's downstream gradient; its norm sets the
    # colour and the width
    ref = Session(mlp_project(weights), timeline=False)
    recs = {r.node: r for r in ref.backward_steps()}
    expected = np.linalg.norm(recs["act"].downstream[next(iter(recs["act"].downstream))])
    wire = scene.wire_item(Edge("fc1", "output", "act", "input"))
    assert wire.health() == pytest.approx(expected, rel=1e-5)
    t = health_fraction(wire.health())
    assert wire.health_pen().color() == health_color(t)
    assert "gradient norm" in wire.toolTip()
    out = scene.wire_item(Edge("fc2", "output", "loss", "input"))
    assert out.health() > wire.health()  # nearer the loss, less of it lost
    assert out.health_pen().widthF() > wire.health_pen().widthF()
    target = scene.wire_item(Edge("data", "target", "loss", "target"))
    assert target.health() is None and target.health_pen().color().alpha() < 100  # dimmed
    # off again: plain wires, no badges
    press(qtbot, w, w.stepper.health_action)
    assert wire.health() is None and wire.health_pen() is None
    assert target.health_pen() is None
    assert scene.node_item("act").badges() == []


def test_gradient_check_button_shows_a_small_error(qtbot, make_window):
    w = make_window("xor_mlp")
    panel = w.stepper.panel
    assert w.canvas.select_node("fc1")
    qtbot.mouseClick(panel.gradcheck_button, Qt.MouseButton.LeftButton)
    assert w.wait_for_stepper(20.0)
    assert panel.gradcheck_error is not None and panel.gradcheck_error < 1e-5
    assert "fc1" in panel.gradcheck_label.text() and "agrees" in panel.gradcheck_label.text()
    # the data node has nothing to check: the reason, not a number
    assert w.canvas.select_node("data")
    press(qtbot, w, w.stepper.gradcheck_action)
    assert panel.gradcheck_error is None
    assert "no parameters or float inputs" in panel.gradcheck_label.text()


def test_a_closed_block_glows_for_its_inner_ops_and_an_open_one_per_primitive(qtbot):
    m = GraphModel()
    m.add_node("Input", {"shape": (8, 16, 16)}, (0, 0), "x")
    m.add_node("ResNetBasicBlock", {"in_channels": 8, "planes": 8}, (300, 0), "block1")
    m.add_node("AdaptiveAvgPool2d", {}, (700, 0), "pool")
    m.connect("x", "output", "block1", "input")
    m.connect("block1", "output", "pool", "input")
    stack = QUndoStack()
    view = CanvasView(m, stack)
    qtbot.addWidget(view)
    scene = view.canvas_scene
    inner = m.subgraph("block1").order()
    first, second = f"block1/{inner[0]}", f"block1/{inner[1]}"
    # closed: an op inside lights the block; the wire into it maps to the block's wire
    scene.set_step(first, [("x", "output", first, "input")], backward=True)
    assert scene.stepped_node() == "block1"
    assert scene.highlighted_edges() == [Edge("x", "output", "block1", "input")]
    scene.set_step(second, [(first, "output", second, "input")], backward=True)
    assert scene.stepped_node() == "block1" and scene.highlighted_edges() == []
    # open: each primitive glows by itself, and the wire between them
    stack.push(OpenCompositeCommand(m, "block1"))
    assert scene.node_item(first) is not None
    scene.set_step(second, [(first, "output", second, "input")], backward=True)
    assert scene.stepped_node() == second
    assert scene.node_item(second).is_highlighted() and \
        not scene.node_item(first).is_highlighted()
    edges = scene.highlighted_edges()
    assert len(edges) == 1 and (edges[0].src, edges[0].dst) == (first, second)
    scene.set_step(None)
    assert scene.stepped_node() is None and scene.highlighted_edges() == []
    view.detach()


def test_a_jacobian_too_large_shows_the_rule_and_the_saved_tensors(qtbot, make_window):
    w = make_window("digits_mlp")
    ref = Session(load("digits_mlp"), timeline=False)
    recs = list(ref.backward_steps())
    relu = next(i for i, r in enumerate(recs) if r.op == "ReLU")
    assert recs[relu].local_jacobian["x"] is None  # (N*64)^2 entries: too many
    for _ in range(relu + 1):
        press(qtbot, w, w.stepper.step_backward_action)
    panel, rec = w.stepper.panel, recs[relu]
    assert w.canvas.canvas_scene.stepped_node() == rec.node
    text = panel.equation_label.text()
    assert "too large" in text and rec.rule.split(".")[0] in text
    assert "saved for backward: y" in text
    assert panel.saved_tabs.isVisible() and panel.saved_tabs.tabText(0) == "y"
    np.testing.assert_allclose(panel.jacobian_view.array(), rec.saved["y"], rtol=1e-6)
    np.testing.assert_allclose(panel.downstream_view.array(), rec.downstream["x"], rtol=1e-5,
                               atol=1e-9)


def test_training_clears_a_stale_step(qtbot, make_window):
    w = make_window("xor_mlp")
    press(qtbot, w, w.stepper.step_forward_action)
    press(qtbot, w, w.stepper.step_forward_action)
    assert w.canvas.canvas_scene.stepped_node() == "fc1"
    qtbot.mouseClick(w.toolbar.widgetForAction(w.step_action), Qt.MouseButton.LeftButton)
    assert w.canvas.canvas_scene.stepped_node() is None
    assert "Training moved on" in w.stepper.panel.title_label.text()
    # the next forward step starts a new pass at the first node
    press(qtbot, w, w.stepper.step_forward_action)
    assert w.canvas.canvas_scene.stepped_node() == "data"
