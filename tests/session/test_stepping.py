"""Forward stepping one node at a time, backward stepping one engine op at a time (the
chain rule at each op), and the gradient check of one node."""

from __future__ import annotations

import numpy as np
import pytest

from playground.engine import Tensor
from playground.project import load
from playground.session import Session, SessionError


def _trained(preset: str, steps: int = 5, **training) -> Session:
    p = load(preset)
    for k, v in training.items():
        setattr(p.training, k, v)
    s = Session(p, timeline=False)
    s.train(steps)
    return s


def _grads(session: Session) -> dict[str, np.ndarray]:
    return {k: p.grad.copy() for k, p in session.program.named_parameters()}


def _backward_grads(session: Session) -> dict[str, np.ndarray]:
    """What plain ``loss.backward()`` leaves on the current batch."""
    for p in session.program.parameters():
        p.grad = None
    _, loss = session._forward(*session.current_batch())
    loss.backward()
    return _grads(session)


def test_forward_steps_visit_every_node_in_order_and_equal_program_run():
    s = _trained("xor_mlp")
    records = list(s.forward_steps())
    assert [r.node for r in records] == [c.node_id for c in s.program.calls]
    assert [r.index for r in records] == list(range(len(records)))
    assert records[1].node == "fc1" and records[1].type == "Linear"
    assert records[1].wires == (("data", "x", "fc1", "input"),)
    x, y = s.current_batch()
    trace = s.program.run(s.feeds(x, y))
    for r in records:
        for port, arr in r.outputs.items():
            np.testing.assert_array_equal(arr, trace[r.node][port].data)
        for port, src, sport in s.program.call(r.node).inputs:
            np.testing.assert_array_equal(r.inputs[port], trace[src][sport].data)
    # the tanh layer's input is fc1's output: x W^T + b on the batch
    w, b = s.weights()["fc1.weight"], s.weights()["fc1.bias"]
    np.testing.assert_allclose(records[2].inputs["input"], x @ w.T + b, rtol=1e-5, atol=1e-6)


def _check_chain_rule(records) -> int:
    """Every downstream equals J^T upstream where J is given; returns how many were."""
    checked = 0
    for r in records:
        for name, jac in r.local_jacobian.items():
            if jac is None:
                continue
            down = r.downstream[name]
            assert jac.shape == (r.upstream.size, down.size)
            np.testing.assert_allclose(down.ravel(), jac.T @ r.upstream.ravel(),
                                       rtol=1e-4, atol=1e-6, err_msg=f"{r.node}:{r.op}:{name}")
            checked += 1
    return checked


@pytest.mark.parametrize("preset, nodes", [
    ("xor_mlp", ["loss", "fc2", "tanh1", "fc1"]),
    ("digits_mlp", None),
])
def test_backward_steps_obey_the_chain_rule_and_leave_backwards_gradients(preset, nodes):
    s = _trained(preset)
    records = list(s.backward_steps())
    if nodes is not None:
        assert [r.node for r in records] == nodes
    assert records[0].upstream.shape == () and float(records[0].upstream) == 1.0
    assert _check_chain_rule(records) >= 3
    stepped = _grads(s)
    expected = _backward_grads(s)
    assert set(stepped) == set(expected)
    for k in expected:
        np.testing.assert_array_equal(stepped[k], expected[k], err_msg=k)


def test_backward_records_name_inputs_sources_and_wires():
    s = _trained("xor_mlp")
    recs = {r.node: r for r in s.backward_steps()}
    fc2 = recs["fc2"]
    assert fc2.op == "Linear"
    assert fc2.sources["weight"] == "fc2.weight" and fc2.sources["bias"] == "fc2.bias"
    assert fc2.wires[next(n for n, src in fc2.sources.items() if src == "tanh1.output")] == \
        ("tanh1", "output", "fc2", "input")
    # d(x W^T + b)/dW for one example row: the Jacobian of the weight is (N*out, out*in)
    assert fc2.local_jacobian["weight"].shape == (32 * 2, 2 * 8)
    assert "W" in fc2.rule or "x" in fc2.rule
    tanh = recs["tanh1"]
    # tanh's local Jacobian is diagonal, 1 - y^2
    y = tanh.saved["y"]
    np.testing.assert_allclose(np.diag(tanh.local_jacobian[next(iter(tanh.local_jacobian))]),
                               (1 - y ** 2).ravel(), rtol=1e-6)


def test_backward_steps_reuse_the_forward_stepped_pass():
    s = _trained("xor_mlp")
    fwd = list(s.forward_steps())
    first = next(s.backward_steps())
    assert first.node == "loss" and first.sources[next(iter(first.downstream))] == "fc2.output"
    # the pass the forward stepping ran is the one differentiated: same logits
    logits = fwd[-1].inputs["input"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    y = s.current_batch()[1]
    expected = (probs - np.eye(2)[y]) / len(y)
    np.testing.assert_allclose(first.downstream[next(iter(first.downstream))], expected,
                               rtol=1e-5, atol=1e-7)


def test_stepping_does_not_change_training():
    a, b = _trained("xor_mlp"), _trained("xor_mlp")
    list(a.forward_steps())
    list(a.backward_steps())
    a.gradcheck_node("fc1")
    for _ in range(5):
        a.step(), b.step()
    for k, v in a.weights().items():
        np.testing.assert_array_equal(v, b.weights()[k])


def test_gradcheck_node_agrees_for_every_node_with_weights_or_inputs():
    s = _trained("xor_mlp")
    for node in ("fc1", "tanh1", "fc2", "loss"):
        check = s.gradcheck_node(node)
        assert check.passed and check.verdict == "agrees", check.summary()
        assert check.max_error <= check.tolerance == 1e-6 and float(check) == check.max_error
        assert check.checked == sum(t.checked for t in check.tensors) > 0
    assert [t.name for t in s.gradcheck_node("fc1").tensors] == ["input", "weight", "bias"]
    with pytest.raises(SessionError, match="no node 'nope'"):
        s.gradcheck_node("nope")
    with pytest.raises(SessionError, match="no parameters or float inputs"):
        s.gradcheck_node("data")


def test_gradcheck_node_catches_a_wrong_backward(monkeypatch):
    from playground.engine import ops
    s = _trained("xor_mlp")
    right = ops.Tanh.backward

    def wrong(ctx, g):
        return right(ctx, g) * 1.1  # a 10% error in tanh's derivative

    monkeypatch.setattr(ops.Tanh, "backward", staticmethod(wrong))
    tanh = s.gradcheck_node("tanh1")
    assert not tanh.passed and tanh.verdict == "disagrees" and tanh.skipped_kinks == 0
    # the worst element: autograd says 1.1 times what the differences measure
    assert tanh.worst.analytic == pytest.approx(1.1 * tanh.worst.numeric, rel=1e-4)
    assert tanh.max_error > 0.05
    fc1 = s.gradcheck_node("fc1")  # it reaches fc1's weights too
    assert fc1.verdict == "disagrees"
    assert [t.passed for t in fc1.tensors] == [False, False, False]  # input, weight, bias
    assert s.gradcheck_node("fc2").passed  # but not what lies after it


def test_current_batch_is_the_last_trained_batch_and_does_not_draw():
    p = load("xor_mlp")
    s = Session(p, timeline=False)
    x0, _ = s.current_batch()
    np.testing.assert_array_equal(x0, s.dataset.train.input[:32])
    assert s.loader._next == 0  # looking did not advance the loader
    s.step()
    x1, _ = s.current_batch()
    assert isinstance(x1, np.ndarray) and not np.array_equal(x0, x1)
    assert Tensor(x1).shape == (32, 2)


def test_backward_steps_of_a_small_cnn(project):
    """Conv, ReLU, max-pool, flatten, linear: every op's downstream is J^T upstream, and
    the walk leaves backward()'s gradients."""
    s = Session(project(
        [("data", "Dataset", {"dataset": "digits"}),
         ("image", "Reshape", {"shape": [1, 8, 8]}),
         ("conv", "Conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 3,
                             "padding": 1}),
         ("relu", "ReLU", {}), ("pool", "MaxPool2d", {"kernel_size": 2}),
         ("flat", "Flatten", {}), ("fc", "Linear", {"in_features": 32, "out_features": 10}),
         ("loss", "CrossEntropyLoss", {})],
        ["data.x -> image.input", "image.output -> conv.input", "conv.output -> relu.input",
         "relu.output -> pool.input", "pool.output -> flat.input", "flat.output -> fc.input",
         "fc.output -> loss.input", "data.target -> loss.target"],
        training={"batch_size": 3}), timeline=False)
    s.train(3)
    records = list(s.backward_steps())
    nodes = [r.node for r in records]
    assert nodes.index("conv") > nodes.index("relu") > nodes.index("pool") > nodes.index("fc")
    conv = next(r for r in records if r.node == "conv")
    assert conv.upstream.shape == (3, 2, 8, 8)
    assert conv.local_jacobian["weight"].shape == (3 * 2 * 64, 2 * 9)
    assert _check_chain_rule(records) >= 6
    stepped = _grads(s)
    for k, v in _backward_grads(s).items():
        np.testing.assert_array_equal(stepped[k], v, err_msg=k)
    assert s.gradcheck_node("conv").passed


def test_worker_steps_forward_then_backward():
    from playground.session import TrainingWorker
    w = TrainingWorker(Session(load("xor_mlp"), timeline=False))
    try:
        w.step_batches(2)
        nodes = [w.step_forward().result(5).node for _ in range(5)]
        assert nodes == ["data", "fc1", "tanh1", "fc2", "loss"]
        assert w.step_forward().result(5) is None  # the pass is done
        ops = []
        while (rec := w.step_backward().result(5)) is not None:
            ops.append(rec.node)
        assert ops == ["loss", "fc2", "tanh1", "fc1"]
        # a backward step in the middle of a forward pass finishes the forward pass first
        w.step_forward().result(5)
        assert w.step_backward().result(5).node == "loss"
        assert w.call(lambda s: s.step_count).result(5) == 2  # stepping trains nothing
    finally:
        w.stop()


def test_stepping_leaves_batch_norm_running_statistics_alone(project):
    def make():
        s = Session(project(
            [("data", "Dataset", {"dataset": "xor"}),
             ("fc1", "Linear", {"in_features": 2, "out_features": 8}),
             ("bn", "BatchNorm1d", {"num_features": 8}), ("act", "Tanh", {}),
             ("fc2", "Linear", {"in_features": 8, "out_features": 2}),
             ("loss", "CrossEntropyLoss", {})],
            ["data.x -> fc1.input", "fc1.output -> bn.input", "bn.output -> act.input",
             "act.output -> fc2.input", "fc2.output -> loss.input",
             "data.target -> loss.target"],
            training={"batch_size": 8}), timeline=False)
        s.train(3)
        return s

    a, b = make(), make()
    bn = a.program.call("bn").module
    before = bn.running_mean.data.copy(), bn.running_var.data.copy()
    assert not np.allclose(before[0], 0)  # training moved them: the check below can fail
    records = list(a.forward_steps())
    # the stepped pass normalised with the batch's statistics, as training does
    x = next(r for r in records if r.node == "fc1").outputs["output"]
    out = next(r for r in records if r.node == "bn").outputs["output"]
    mean, var = x.mean(0), x.var(0)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + bn.eps) * bn.weight.data
                               + bn.bias.data, rtol=1e-4, atol=1e-5)
    list(a.backward_steps())
    np.testing.assert_array_equal(bn.running_mean.data, before[0])
    np.testing.assert_array_equal(bn.running_var.data, before[1])
    for _ in range(3):
        a.step(), b.step()
    for k, v in a.weights().items():
        np.testing.assert_array_equal(v, b.weights()[k], err_msg=k)
