"""When training goes wrong the worker names the culprit, flags a runaway loss and lives on
(issue 13: NaN guard)."""

from __future__ import annotations

import numpy as np
import pytest

from polling import wait_until as _wait  # tests/session/polling.py
from playground.project import load
from playground.session import Session, TrainingWorker
from playground.session.diagnose import RunawayWatch, explain_divergence


def _exploding_transformer():
    p = load("transformer_reverse")  # the report: SGD lr 10, momentum 0.9
    p.training.optimizer, p.training.lr, p.training.momentum = "SGD", 10.0, 0.9
    return p


def test_a_diverged_run_names_the_first_node_that_blew_up_and_the_worker_lives_on():
    worker = TrainingWorker(Session(_exploding_transformer(), timeline=False))
    try:
        worker.train()
        assert _wait(lambda: "diverged" in worker.error)
        # the guard refuses the step: the weights stay finite, the first NaN output is named
        assert "MultiheadAttention 'self_attn'" in worker.error and "output" in worker.error
        assert "the weights are the last finite ones" in worker.error
        assert "Lower the learning rate (now 10)" in worker.error
        w = worker.call(lambda s: s.program.call("src_embed").module.weight.data.copy())
        assert np.isfinite(w.result(timeout=30)).all()
        assert worker.alive and not worker.running
        worker.reset()  # Reset works after it (the issue: it did nothing)
        assert _wait(lambda: worker.snapshot.step == 0)
        weights = worker.call(lambda s: s.program.call("src_embed").module.weight.data.copy())
        assert np.isfinite(weights.result(timeout=30)).all()
    finally:
        worker.stop()


def test_explain_divergence_finds_a_non_finite_output_when_the_weights_are_finite():
    s = Session(load("xor_mlp"), timeline=False)
    s.program.call("fc1").module.weight.data[...] = 3e38  # finite, but x @ W.T overflows
    msg = explain_divergence(s)
    assert "first node whose output holds infinite values is Linear 'fc1'" in msg, msg
    assert "Lower the learning rate (now 0.1)" in msg


def test_bad_data_is_named_as_the_culprit_not_the_learning_rate():
    s = Session(load("xor_mlp"), timeline=False)
    x, y = s.current_batch()
    s.batch = (np.full_like(x, np.nan), y)
    msg = explain_divergence(s)
    assert "The batch itself holds NaN (Dataset 'data'.x)" in msg and "learning rate" not in msg


def test_a_finite_runaway_loss_is_flagged_once():
    watch = RunawayWatch(factor=10, steps=3)
    losses = [1.0, 0.5, 0.4, 5.0, 6.0, 7.0, 8.0, 9.0]
    flags = [watch.update(v) for v in losses]
    assert flags[:5] == [None] * 5 and "running away: 7 now against 0.4" in flags[5]
    assert flags[6:] == [None, None]  # once per run
    watch.reset()
    assert [watch.update(v) for v in (0.01, 0.2, 0.2, 0.2)][-1] is not None
    near_zero = RunawayWatch(steps=2)
    assert [near_zero.update(v) for v in (1e-6, 1e-4, 1e-4, 1e-4)] == [None] * 4


def test_the_worker_flags_a_real_runaway_and_keeps_training():
    p = load("xor_mlp")
    p.training.optimizer, p.training.lr, p.training.momentum = "SGD", 5.0, 0.99
    worker = TrainingWorker(Session(p, timeline=False), run_length=300)
    try:
        worker.train()
        assert _wait(lambda: "running away" in worker.error)
        assert _wait(lambda: worker.snapshot.step >= 300)  # it went on to the target
    finally:
        worker.stop()


def test_views_that_fail_are_reported_and_training_goes_on(monkeypatch):
    s = Session(load("xor_mlp"), timeline=False)

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(s, "views", broken)
    worker = TrainingWorker(s, run_length=200)
    try:
        worker.train()
        assert _wait(lambda: worker.snapshot.step >= 200)
        assert "views could not be drawn: SVD did not converge" in worker.error
        assert worker.alive
    finally:
        worker.stop()


def test_the_embedding_pca_survives_exploded_rows():
    from playground.session.views import pca_2d

    rng = np.random.default_rng(0)
    table = rng.normal(size=(20, 8))
    ref, ref_frac = pca_2d(table)
    big, big_frac = pca_2d(table * 1e30)  # still float32, but float32 squares overflow
    np.testing.assert_allclose(np.abs(big / 1e30), np.abs(ref), rtol=1e-4)
    _, huge_frac = pca_2d(table * 1e200)  # finite in float64, its squares are not
    np.testing.assert_allclose(huge_frac, ref_frac, rtol=1e-5)
    table[3, 2] = np.inf
    table[7, 0] = np.nan
    coords, frac = pca_2d(table)
    assert np.isnan(coords[[3, 7]]).all() and np.isfinite(np.delete(coords, [3, 7], 0)).all()
    assert 0 < frac[0] <= 1


def test_playground_train_names_the_culprit_of_a_divergence(tmp_path, capsys):
    from playground.cli import main
    from playground.project import save

    path = save(_exploding_transformer(), tmp_path / "boom.json")
    assert main(["train", str(path), "--steps", "40"]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "MultiheadAttention 'self_attn'" in err


def _graph(*extra_nodes, extra_edges=()):
    nodes = [{"id": "data", "type": "Dataset", "params": {"dataset": "xor"}},
             {"id": "loss", "type": "CrossEntropyLoss", "params": {}}, *extra_nodes]
    edges = [{"src": "data", "src_port": "x", "dst": "loss", "dst_port": "input"},
             {"src": "data", "src_port": "target", "dst": "loss", "dst_port": "target"},
             *extra_edges]
    return {"nodes": nodes, "edges": edges}


def test_a_graph_without_weights_is_refused_with_advice():
    from playground.project import Project
    from playground.session import SessionError

    with pytest.raises(SessionError, match="no weights to train: put a layer with parameters"):
        Session(Project(graph=_graph()), timeline=False)


def test_a_loss_that_depends_on_no_weight_stops_training_with_advice():
    from playground.project import Project

    dangling = {"id": "fc", "type": "Linear", "params": {"in_features": 2, "out_features": 2}}
    s = Session(Project(graph=_graph(dangling, extra_edges=[
        {"src": "data", "src_port": "x", "dst": "fc", "dst_port": "input"}])), timeline=False)
    with pytest.raises(ValueError, match="the loss depends on no parameter"):
        s.step()
    worker = TrainingWorker(s)
    try:
        worker.train()
        assert _wait(lambda: "depends on no parameter" in worker.error)
        assert worker.alive
    finally:
        worker.stop()
