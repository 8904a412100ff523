"""The non-finite guard (issue 13): a step whose loss or gradients hold NaN or infinity is
not taken, the weights stay the last finite ones, the first node where it appeared is named,
and the worker pauses within that step and lives on."""

from __future__ import annotations

import numpy as np
import pytest

from polling import wait_until as _wait  # tests/session/polling.py
from playground.project import Project, load
from playground.session import Session, TrainingWorker
from playground.session.diagnose import NonFiniteStep, guard_optimizer


def _chain(*layers, dataset="xor"):
    """Dataset -> layers... -> CrossEntropyLoss; ``layers`` are (id, type, params)."""
    nodes = [{"id": "data", "type": "Dataset", "params": {"dataset": dataset}}]
    edges, prev = [], ("data", "x")
    for node_id, type_, params in layers:
        nodes.append({"id": node_id, "type": type_, "params": params})
        edges.append({"src": prev[0], "src_port": prev[1], "dst": node_id,
                      "dst_port": "input"})
        prev = (node_id, "output")
    nodes.append({"id": "loss", "type": "CrossEntropyLoss", "params": {}})
    edges += [{"src": prev[0], "src_port": prev[1], "dst": "loss", "dst_port": "input"},
              {"src": "data", "src_port": "target", "dst": "loss", "dst_port": "target"}]
    return Project(graph={"nodes": nodes, "edges": edges})


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_log_of_a_negative_input_is_refused_at_the_first_step_and_named():
    s = Session(_chain(("fc", "Linear", {"in_features": 2, "out_features": 2}),
                       ("log", "Log", {})), timeline=False)
    before = s.weights()
    m = s.step()
    assert m["diverged"] == 1.0 and np.isnan(m["loss"]) and m["step"] == 0
    assert s.step_count == 0 and len(s.history.copy_arrays().get("loss", ((), ()))[0]) == 0
    assert _same(s.weights(), before)  # the step was not applied
    d = s.divergence
    assert d.node_id == "log" and d.culprit.kind == "output" and d.culprit.bad == "NaN"
    assert d.message.startswith("training paused at step 1: the output of Log 'log' holds NaN")
    assert "the weights are the last finite ones" in d.message
    assert "keep its input positive" in d.message and "before any update" in d.message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_an_infinite_gradient_with_finite_outputs_names_the_node_going_backward():
    # sqrt(relu(x)): finite forward, but d sqrt(u)/du = inf at u = 0 (the dead units)
    s = Session(_chain(("fc", "Linear", {"in_features": 2, "out_features": 8}),
                       ("relu", "ReLU", {}), ("sqrt", "Pow", {"exponent": 0.5}),
                       ("head", "Linear", {"in_features": 8, "out_features": 2})),
                timeline=False)
    before = s.weights()
    m = s.step()
    assert "diverged" in m and np.isfinite(m["loss"])  # the loss itself is finite
    assert _same(s.weights(), before)
    c = s.divergence.culprit
    assert (c.node_id, c.kind, c.detail) == ("sqrt", "gradient", "input 'input'"), c
    assert s.divergence.message.startswith(
        "training paused at step 1: going backward, Pow 'sqrt' is the first node whose "
        "gradient holds infinite values (the gradient it sends back to its input 'input'); "
        "so the gradient is not finite")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_issue_run_pauses_within_one_step_with_the_last_finite_weights():
    p = load("transformer_reverse")  # the issue's report: SGD lr 10, momentum 0.9
    p.training.optimizer, p.training.lr, p.training.momentum = "SGD", 10.0, 0.9
    s = Session(p, timeline=False)
    for _ in range(60):
        before, momentum = s.weights(), {
            id(p): st["momentum_buffer"].copy() for p, st in s.optimizer.state.items()}
        m = s.step()
        if "diverged" in m:
            break
    else:
        pytest.fail("lr 10 with momentum 0.9 did not diverge in 60 steps")
    assert s.step_count == s.divergence.step - 1 == m["step"]
    assert _same(s.weights(), before)  # the last finite weights...
    assert all(np.isfinite(v).all() for v in before.values())
    for param, state in s.optimizer.state.items():  # ...and the optimizer's state
        np.testing.assert_array_equal(state["momentum_buffer"], momentum[id(param)])
    assert s.divergence.node_id is not None
    name = s.divergence.node_id
    assert f"'{name}'" in s.divergence.message and "Lower the learning rate (now 10)" in \
        s.divergence.message
    assert "then press Reset" in s.divergence.message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_worker_pauses_names_the_culprit_and_still_resets_and_saves():
    p = load("transformer_reverse")
    p.training.optimizer, p.training.lr, p.training.momentum = "SGD", 10.0, 0.9
    worker = TrainingWorker(Session(p, timeline=False))
    try:
        worker.train()
        assert _wait(lambda: worker.culprit is not None and not worker.running)
        s = worker.session
        assert s.step_count == s.divergence.step - 1  # paused in the refused step
        assert _wait(lambda: worker.snapshot.step == s.step_count and
                     not worker.snapshot.running)  # and published it
        assert "diverged" in worker.error and f"'{worker.culprit}'" in worker.error
        saved = worker.call(lambda s: s.saved_weights()).result(timeout=30)
        assert all(np.isfinite(v).all() for v in saved.values())
        worker.reset()
        assert _wait(lambda: worker.snapshot.step == 0 and worker.culprit is None)
        assert worker.alive
    finally:
        worker.stop()
    assert not worker.alive


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_in_the_data_is_named_as_the_data():
    s = Session(_chain(("fc", "Linear", {"in_features": 2, "out_features": 2})),
                timeline=False)
    x, y = s.current_batch()
    s.loader.next_batch = lambda: (np.full_like(x, np.nan), y)  # (the cached data untouched)
    m = s.step()
    assert "diverged" in m and s.divergence.culprit.kind == "data"
    assert "The batch itself holds NaN (Dataset 'data'.x)" in s.divergence.message
    assert "learning rate" not in s.divergence.message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_refused_step_puts_batch_norm_running_statistics_back():
    s = Session(_chain(("fc", "Linear", {"in_features": 2, "out_features": 2}),
                       ("bn", "BatchNorm1d", {"num_features": 2}),
                       ("log", "Log", {})), timeline=False)
    bn = s.program.call("bn").module
    mean, var = bn.running_mean.data.copy(), bn.running_var.data.copy()
    assert "diverged" in s.step()
    np.testing.assert_array_equal(bn.running_mean.data, mean)
    np.testing.assert_array_equal(bn.running_var.data, var)
    assert int(bn.num_batches_tracked.data) == 0


def test_a_guarded_optimizer_refuses_before_touching_anything():
    from playground.engine import Tensor, optim

    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    losses = [np.array(1.0, np.float32)]
    guard_optimizer(opt, lambda: losses)
    guard_optimizer(opt, lambda: losses)  # twice: still one guard
    w.grad = np.array([1.0, np.inf, 1.0], np.float32)
    with pytest.raises(NonFiniteStep) as info:
        opt.step()
    assert info.value.what == "gradient" and opt.state == {}
    np.testing.assert_array_equal(w.data, 1.0)
    w.grad = np.full(3, 3e38, np.float32)  # finite, though its sum overflows float32
    opt.step()
    assert np.isfinite(w.data).all() and w.data[0] < 0
    losses[0] = np.array([1.0, np.nan], np.float32)  # (a loss with reduction="none")
    w.grad = np.ones(3, np.float32)
    kept = w.data.copy()
    with pytest.raises(NonFiniteStep, match="loss is not finite"):
        opt.step()
    np.testing.assert_array_equal(w.data, kept)


def test_the_guard_can_be_switched_off():
    s = Session(_chain(("fc", "Linear", {"in_features": 2, "out_features": 2}),
                       ("log", "Log", {})), timeline=False)
    s.guard_nonfinite = False
    before = s.weights()
    with np.errstate(all="ignore"):
        m = s.step()
    assert m["diverged"] == 1.0 and s.step_count == 1 and s.divergence is None
    assert not _same(s.weights(), before)  # unguarded, the NaN step went through


def test_the_worker_never_dies_and_reset_save_close_still_work(monkeypatch):
    s = Session(load("xor_mlp"), timeline=False)
    worker = TrainingWorker(s, run_length=10_000)
    try:
        calls = {"n": 0}
        real_step = s.step

        def flaky_step():
            calls["n"] += 1
            if calls["n"] == 5:
                raise RuntimeError("a bug in a node")
            return real_step()

        monkeypatch.setattr(s, "step", flaky_step)
        worker.train()
        assert _wait(lambda: "training stopped: a bug in a node" in worker.error)
        assert _wait(lambda: worker.snapshot.step == 4 and not worker.snapshot.running)
        assert worker.alive and not worker.running

        def bug(*args, **kwargs):  # fails outside the step, in the worker's own loop
            raise ValueError("a bug in the worker")

        monkeypatch.setattr(worker.runaway, "update", bug)
        worker.train()
        assert _wait(lambda: "training stopped: a bug in the worker" in worker.error)
        assert _wait(lambda: worker.snapshot.step == 5 and not worker.snapshot.running)
        assert worker.alive and not worker.running

        def broken(*args, **kwargs):  # publishing fails, and so does its fallback
            raise MemoryError("no memory for the views")

        monkeypatch.setattr(s, "snapshot", broken)
        monkeypatch.setattr(worker, "_handle", broken)  # even a command's handling fails
        worker.pause()
        assert _wait(lambda: "no memory for the views" in worker.error)
        assert worker.alive
        monkeypatch.undo()
        worker.reset()
        assert _wait(lambda: worker.snapshot.step == 0)
        saved = worker.call(lambda s: s.saved_weights()).result(timeout=30)
        assert "fc1.weight" in saved
    finally:
        worker.stop()
    assert not worker.alive
    fut = worker.call(lambda s: None)  # a stopped worker answers at once
    with pytest.raises(RuntimeError, match="worker has stopped"):
        fut.result(timeout=1)


def test_a_loss_a_thousand_times_its_best_is_flagged_at_once():
    from playground.session.diagnose import RunawayWatch

    watch = RunawayWatch()  # 1000x at once, or 10x for 20 steps
    assert [watch.update(v) for v in (2.0, 0.5, 400.0)] == [None, None, None]  # 800x
    warning = watch.update(600.0)  # 1200x its best
    assert "running away: 600 now against 0.5 at its best, 1,200 times its best" in warning
    assert watch.update(1e6) is None  # once per run
    slow = RunawayWatch()
    flags = [slow.update(v) for v in [1.0] + [20.0] * 20]  # 20x, never 1000x
    assert flags[:20] == [None] * 20 and "for 20 steps" in flags[20]
    negative = RunawayWatch(steps=2)  # a loss below 0 (an ELBO, a GAN's): no ratio
    assert [negative.update(v) for v in (-5.0, 1.0, 2.0, 3.0)] == [None] * 4


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_gan_step_with_a_nan_is_refused_for_the_player_too():
    s = Session(load("gan_ring"), timeline=False)
    s.step()  # arms the guard on both players' optimizers
    g_weights = [p for p in s.recipe.g_optimizer.param_groups[0]["params"]]
    g_weights[0].data[...] = np.nan  # the generator's fakes are NaN from here
    d_before = {k: v for k, v in s.weights().items()
                if any(k.startswith(f"{n}.") for n in s.recipe.d_nodes)}
    with pytest.raises(NonFiniteStep, match="the update was not applied"):
        s.recipe.player_step("discriminator")  # Step D: D's gradients are NaN
    d_after = {k: v for k, v in s.weights().items() if k in d_before}
    assert d_before and _same(d_after, d_before)
    m = s.step()  # and a training step names the generator node whose output is NaN
    assert "diverged" in m and s.divergence.culprit.kind == "output"
    assert s.divergence.node_id in {c.node_id for c in s.program.calls} and \
        s.divergence.node_id not in s.recipe.d_nodes


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_gan_step_refused_in_the_generator_half_puts_the_discriminator_back():
    s = Session(load("gan_ring"), timeline=False)
    s.step()
    s.step()  # Adam has moments to keep
    recipe = s.recipe
    d_keys = [k for k in s.weights() if any(k.startswith(f"{n}.") for n in recipe.d_nodes)]
    d_before = {k: s.weights()[k] for k in d_keys}
    opt_before = recipe.d_optimizer.state_dict()
    d_step = recipe.discriminator_step

    def d_step_then_poison_g():  # D's update is finite and taken; then G's pass is NaN
        metrics = d_step()
        recipe.g_optimizer.param_groups[0]["params"][0].data[...] = np.nan
        return metrics
    recipe.discriminator_step = d_step_then_poison_g
    m = s.step()
    assert m.get("diverged") == 1.0 and s.step_count == 2
    assert _same({k: s.weights()[k] for k in d_keys}, d_before)
    opt_after = recipe.d_optimizer.state_dict()
    assert opt_after["state"].keys() == opt_before["state"].keys() and opt_before["state"]
    for i, st in opt_before["state"].items():
        for name, v in st.items():
            assert np.array_equal(opt_after["state"][i][name], v), (i, name)
