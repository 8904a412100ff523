"""The gradient check tells the truth: every node of every trainable preset agrees with
central differences, a wrong backward is caught (also behind ReLUs and max pools, where
kinks are skipped), non-contiguous tensors are perturbed for real, and elements at a kink
(ReLU or LeakyReLU at 0, a max-pool tie, abs, a clamp's edge) are reported as such."""

from __future__ import annotations

import numpy as np
import pytest

from playground.graph.nodes.regression import DATA_SOURCES
from playground.project import load
from playground.project.format import preset_names
from playground.session import Session, SessionError
from playground.session.stepping import (FLOAT64_U, GRADCHECK_EPS, GRADCHECK_ROUNDING,
                                         GRADCHECK_RTOL, central_differences, check_tensor,
                                         float64_program)

#: Elements per tensor in the sweep: small, so that every preset's every node takes
#: seconds in all, not minutes.
SWEEP_CHECKS = 8


def _trainable() -> list[str]:
    """Presets a Session trains: those with a Dataset or Regression node (the architecture presets
    start from an Input and have no loss: they are for inspection only)."""
    return [n for n in preset_names()
            if any(node["type"] in DATA_SOURCES for node in load(n).graph["nodes"])]


TRAINABLE = _trainable()


def test_the_trainable_presets_are_the_course_models():
    assert {"xor_mlp", "spiral_mlp", "digits_mlp", "cnn_digits", "transformer_reverse",
            "gan_ring", "vae_digits"} <= set(TRAINABLE)
    assert "lenet5" not in TRAINABLE and "resnet18" not in TRAINABLE
    with pytest.raises(SessionError, match="Dataset"):
        Session(load("lenet5"), timeline=False)  # no data and no loss: nothing to check


def _checkable(s: Session) -> dict[str, bool]:
    """Node id -> whether it has parameters or a float input (from a pass of its own)."""
    with s.inference():
        trace = s.run(s.feeds(*s.current_batch()))
    out = {}
    for call in s.program.calls:
        params = list(call.module.parameters()) if call.module is not None else []
        floats = [src for _, src, sport in call.inputs
                  if trace[src][sport].data.dtype.kind == "f"]
        out[call.node_id] = call.module is not None and bool(params or floats)
    return out


@pytest.mark.parametrize("name", TRAINABLE)
def test_every_node_of_every_trainable_preset_agrees(name):
    s = Session(load(name), timeline=False)
    checkable = _checkable(s)
    assert sum(checkable.values()) >= 2  # not vacuous: a softmax regression has fc and loss
    report = []
    for node, expected in checkable.items():
        if not expected:
            with pytest.raises(SessionError, match="no parameters or float inputs"):
                s.gradcheck_node(node, max_checks=SWEEP_CHECKS)
            continue
        check = s.gradcheck_node(node, max_checks=SWEEP_CHECKS)
        report.append(check.summary())
        assert check.verdict == "agrees" and check.passed, check.summary()
        assert 0 <= check.max_error <= GRADCHECK_RTOL
        assert check.checked > 0 and check.checked + check.skipped_kinks == sum(
            min(SWEEP_CHECKS, int(np.prod(t.shape))) for t in check.tensors)
        assert check.atol == pytest.approx(
            GRADCHECK_ROUNDING * FLOAT64_U * max(abs(check.loss), 1.0) / GRADCHECK_EPS)
        # perturbing the node's parameters moves the loss: the copy's weights are live
        # (unless autograd's gradient is below what a central difference resolves, as in
        # init_variance's normal(0.01) net, where it vanishes to ~1e-9 by design)
        params = [t for t in check.tensors if t.kind == "parameter"]
        if params and max(abs(t.analytic) for t in params) > check.atol:
            assert max(t.max_numeric for t in params) > 0, node
    assert report


# ------------------------------------------------------------------ a check that can fail


def _wrong(monkeypatch, op, factor=1.1):
    right = op.backward

    def wrong(ctx, g):
        out = right(ctx, g)
        return tuple(o * factor for o in out) if isinstance(out, tuple) else out * factor

    monkeypatch.setattr(op, "backward", staticmethod(wrong))


def test_a_tenth_of_a_percent_off_in_a_smooth_op_is_caught(monkeypatch):
    from playground.engine import ops
    s = Session(load("xor_mlp"), timeline=False)
    _wrong(monkeypatch, ops.Tanh, 1.001)
    check = s.gradcheck_node("tanh1")
    assert check.verdict == "disagrees" and check.skipped_kinks == 0
    assert check.max_error > 100 * GRADCHECK_RTOL
    assert check.worst.analytic == pytest.approx(1.001 * check.worst.numeric, rel=1e-5)
    assert s.gradcheck_node("fc2").passed  # downstream of tanh: untouched


def test_a_wrong_relu_is_caught_although_relus_have_kinks(monkeypatch):
    """The kink test cannot hide a wrong piecewise-linear derivative: away from 0 the
    half-step slopes still lie on a line."""
    from playground.engine import ops
    s = Session(load("spiral_mlp"), timeline=False)
    _wrong(monkeypatch, ops.ReLU)
    # relu1 and fc1 lie behind both ReLUs (1.1 * 1.1), relu2 behind one
    for node, factor in (("relu1", 1.21), ("fc1", 1.21), ("relu2", 1.1)):
        check = s.gradcheck_node(node, max_checks=16)
        assert check.verdict == "disagrees", check.summary()
        assert check.checked > check.skipped_kinks
        assert check.worst.analytic == pytest.approx(factor * check.worst.numeric, rel=1e-4)
    assert s.gradcheck_node("fc3").passed


def test_a_wrong_max_pool_is_caught_where_ties_abound(monkeypatch):
    """cnn_digits' max pools see many ties (blank parts of the digits), yet a wrong
    backward through them shows in the weights below them."""
    from playground.engine import conv
    s = Session(load("cnn_digits"), timeline=False)
    _wrong(monkeypatch, conv.MaxPool2d)
    for node in ("conv1", "conv2"):
        check = s.gradcheck_node(node, max_checks=SWEEP_CHECKS)
        assert check.verdict == "disagrees", check.summary()
        weight = next(t for t in check.tensors if t.name == "weight")
        assert not weight.passed and weight.max_error > 100 * GRADCHECK_RTOL
    assert s.gradcheck_node("fc").passed


# ------------------------------------------------------------------ non-contiguous arrays


def test_central_differences_perturb_a_transposed_view_in_place():
    base = np.arange(12.0).reshape(3, 4)
    x = base.T  # (4, 3), not C-contiguous: reshape(-1) would copy
    assert not x.flags.c_contiguous
    coef = np.linspace(-1.0, 2.0, 12).reshape(4, 3)

    def loss() -> float:
        return float((coef * x ** 2).sum())

    index = np.array([0, 4, 7, 11])
    got = central_differences(loss, x, index)
    at = np.unravel_index(index, x.shape)
    np.testing.assert_allclose(got, (2 * coef * x)[at], rtol=1e-8)
    np.testing.assert_array_equal(base, np.arange(12.0).reshape(3, 4))  # restored
    frozen = x.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        central_differences(loss, frozen, index)


def test_non_contiguous_node_outputs_are_checked_for_real():
    """cnn_digits' conv and pool outputs are NCHW views of NHWC buffers: the check used to
    perturb a copy of them, measure 0 and report DISAGREES (error 1.0)."""
    s = Session(load("cnn_digits"), timeline=False)
    with s.inference():
        trace = s.run(s.feeds(*s.current_batch()))
    assert not trace["pool1"]["output"].data.flags.c_contiguous
    assert not trace["conv1"]["output"].data.flags.c_contiguous
    for node in ("conv2", "relu1"):  # inputs: pool1's and conv1's outputs
        check = s.gradcheck_node(node, max_checks=16)
        inp = check.tensors[0]
        assert inp.kind == "input" and inp.passed, check.summary()
        if node == "conv2":
            assert inp.max_numeric > 1e-6 and abs(inp.numeric) > 0


def test_the_float64_copy_has_live_contiguous_float64_weights():
    s = Session(load("transformer_reverse"), timeline=False)
    original = s.program.call("encoder").module.self_attn.in_proj_weight
    original.data = np.asfortranarray(original.data)  # a layout the copy must not keep
    prog = float64_program(s.program)
    for (name, p), (_, q) in zip(s.program.named_parameters(), prog.named_parameters()):
        assert q.data.dtype == np.float64 and q.data.flags.c_contiguous, name
        assert q.data.flags.writeable and not np.shares_memory(p.data, q.data), name
        np.testing.assert_array_equal(q.data, p.data.astype(np.float64))
    # perturbing a weight of the copy in place moves the copy's loss by eps * gradient
    check = s.gradcheck_node("encoder", max_checks=4)
    assert check.passed, check.summary()
    weight = next(t for t in check.tensors if t.name == "self_attn.in_proj_weight")
    assert weight.checked == 4 and weight.max_numeric > 1e-6


# --------------------------------------------------------------------------------- kinks


def _relu_at_zero(make_project, activation: str, params: dict):
    """XOR through fc1 whose units 0 and 1 have zero weights and bias: their
    pre-activations are exactly 0 for every example, a kink of the activation."""
    weight = np.array([[0, 0], [0, 0], [1.0, -1.0], [0.5, 2.0]])
    return make_project(
        [("data", "Dataset", {"dataset": "xor"}),
         ("fc1", "Linear", {"in_features": 2, "out_features": 4}),
         ("act", activation, params),
         ("fc2", "Linear", {"in_features": 4, "out_features": 2}),
         ("loss", "CrossEntropyLoss", {})],
        ["data.x -> fc1.input", "fc1.output -> act.input", "act.output -> fc2.input",
         "fc2.output -> loss.input", "data.target -> loss.target"],
        training={"batch_size": 8},
        weights={"fc1.weight": weight, "fc1.bias": [0, 0, 0.1, -0.2]})


@pytest.mark.parametrize("activation, params", [("ReLU", {}),
                                                ("LeakyReLU", {"negative_slope": 0.1})])
def test_an_activation_exactly_at_zero_is_reported_as_a_kink(project, activation, params):
    s = Session(_relu_at_zero(project, activation, params), timeline=False)
    check = s.gradcheck_node("act", max_checks=32)  # all 8 x 4 elements
    assert check.verdict == "agrees", check.summary()
    (inp,) = check.tensors
    assert inp.kinks == tuple(n * 4 + j for n in range(8) for j in (0, 1))
    assert inp.checked == 16 and inp.max_numeric > 1e-3
    # the weights and biases of units 0 and 1 move all 8 kinks at once; the rest are smooth
    fc1 = {t.name: t for t in s.gradcheck_node("fc1", max_checks=32).tensors}
    assert fc1["weight"].kinks == (0, 1, 2, 3) and fc1["bias"].kinks == (0, 1)
    assert fc1["input"].kinks == () and fc1["input"].checked == 16
    assert all(t.passed for t in fc1.values())


def test_max_pool_ties_are_reported_as_kinks(project):
    """fc's outputs 0, 1, 4 and 5 (the first 2x2 window of the 4x4 map) are all 0.5:
    every example's first pooling window is a four-way tie."""
    weight = np.random.default_rng(0).normal(size=(16, 2))
    bias = np.random.default_rng(1).normal(size=16)
    window = [0, 1, 4, 5]
    weight[window], bias[window] = 0.0, 0.5
    tied = project(
        [("data", "Dataset", {"dataset": "xor"}),
         ("fc", "Linear", {"in_features": 2, "out_features": 16}),
         ("map", "Reshape", {"shape": [1, 4, 4]}),
         ("pool", "MaxPool2d", {"kernel_size": 2}),
         ("flat", "Flatten", {}),
         ("out", "Linear", {"in_features": 4, "out_features": 2}),
         ("loss", "CrossEntropyLoss", {})],
        ["data.x -> fc.input", "fc.output -> map.input", "map.output -> pool.input",
         "pool.output -> flat.input", "flat.output -> out.input",
         "out.output -> loss.input", "data.target -> loss.target"],
        training={"batch_size": 8}, weights={"fc.weight": weight, "fc.bias": bias})
    s = Session(tied, timeline=False)
    check = s.gradcheck_node("pool", max_checks=128)  # all 8 x 16 elements
    assert check.verdict == "agrees", check.summary()
    assert check.tensors[0].kinks == tuple(n * 16 + p for n in range(8) for p in window)
    assert check.checked == 96 and check.skipped_kinks == 32


def _abs_clamp(x: np.ndarray, w: np.ndarray, v: np.ndarray) -> float:
    return float((w * np.abs(x) + v * np.clip(x, -1.0, 1.0) + 0.5 * x ** 2).sum())


def test_check_tensor_skips_abs_and_clamp_kinks_and_fails_a_wrong_slope():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(6, 5))
    at_kink = [3, 8, 17, 22, 29]
    # abs's kink 3e-7 and 4e-7 away (inside [x - eps, x + eps]), the clamp's edges at
    # +-1 and 2e-7 inside +1. (Exactly at 0, abs's central difference is 0 = sign(0): it
    # agrees, and is no kink to report.)
    x.flat[at_kink] = [3e-7, 1.0, -1.0, -4e-7, 1.0 - 2e-7]
    x.flat[11] = 0.0
    w, v = rng.uniform(0.5, 1.5, size=x.shape), rng.uniform(0.5, 1.5, size=x.shape)
    xt = np.ascontiguousarray(x.T).T  # checked through a non-contiguous view
    grad = w * np.sign(x) + v * (np.abs(x) < 1) + x
    base = _abs_clamp(xt, w, v)
    atol = GRADCHECK_ROUNDING * FLOAT64_U * max(abs(base), 1) / GRADCHECK_EPS
    index = np.arange(x.size)
    right = check_tensor("x", "input", lambda: _abs_clamp(xt, w, v), xt, grad, index, base,
                         atol=atol)
    assert right.passed and right.kinks == tuple(at_kink) and right.checked == 25
    assert 11 not in right.kinks
    assert right.max_error <= GRADCHECK_RTOL
    wrong = grad + 0.1 * v * (np.abs(x) < 1)  # the clamp's slope 1.1 instead of 1
    bad = check_tensor("x", "input", lambda: _abs_clamp(xt, w, v), xt, wrong, index, base,
                       atol=atol)
    # ...element 11 (abs at 0) now disagrees too, and a kink explains it: it is skipped
    assert not bad.passed and bad.kinks == tuple(sorted([*at_kink, 11]))
    inside = [i for i in range(x.size) if abs(x.flat[i]) < 1 and i not in at_kink]
    assert bad.worst in inside and bad.max_error > 0.01
    np.testing.assert_array_equal(xt, x)  # every element put back


def test_a_steep_smooth_loss_passes_by_richardson_extrapolation():
    """sin(5000 x): the central difference is off by eps^2 L''' / 6, 4e-6 relative, above
    the pass mark; the extrapolated estimate is not, and it is no kink."""
    x = np.linspace(0.1, 0.9, 7)

    def loss() -> float:
        return float(np.sin(5000 * x).sum())

    grad = 5000 * np.cos(5000 * x)
    index = np.arange(7)
    central = central_differences(loss, x, index)
    assert np.max(np.abs(central - grad) / np.abs(grad)) > 2 * GRADCHECK_RTOL
    atol = GRADCHECK_ROUNDING * FLOAT64_U * max(abs(loss()), 1) / GRADCHECK_EPS
    check = check_tensor("x", "input", loss, x, grad, index, loss(), atol=atol)
    assert check.passed and check.kinks == () and check.checked == 7
    wrong = check_tensor("x", "input", loss, x, 1.01 * grad, index, loss(), atol=atol)
    assert not wrong.passed and wrong.kinks == ()
