"""Compare runs: settings of one project trained from the same initial weights."""

from __future__ import annotations

import numpy as np
import pytest

from playground.project import ProjectError, load
from playground.session import Session
from playground.session.compare import (CompareCancelled, RunConfig, apply_overrides, compare,
                                        held_out_metric, run_table)


def test_overrides_change_only_what_they_name_and_are_validated():
    base = load("xor_mlp")
    v = apply_overrides(base, {"training.optimizer": "Adam", "training.lr": 0.02,
                               "node.fc1.out_features": 16, "node.fc2.in_features": 16})
    assert (v.training.optimizer, v.training.lr) == ("Adam", 0.02)
    assert (base.training.optimizer, base.training.lr) == ("SGD", 0.1)  # base untouched
    fc1 = next(n for n in v.graph["nodes"] if n["id"] == "fc1")
    assert fc1["params"]["out_features"] == 16
    assert next(n for n in base.graph["nodes"] if n["id"] == "fc1")["params"]["out_features"] == 8
    with pytest.raises(ProjectError, match="training.lr"):
        apply_overrides(base, {"training.lr": -1})
    with pytest.raises(ProjectError, match="no field 'learning_rate'"):
        apply_overrides(base, {"training.learning_rate": 0.1})
    with pytest.raises(ProjectError, match="no node 'fc9'"):
        apply_overrides(base, {"node.fc9.out_features": 3})
    with pytest.raises(ProjectError, match="out_features"):
        apply_overrides(base, {"node.fc1.out_features": 0})
    with pytest.raises(ProjectError, match="not a setting"):
        apply_overrides(base, {"lr": 0.1})
    gan = apply_overrides(load("gan_ring"), {"recipe.d_optimizer.lr": 1e-4})
    assert gan.recipe["d_optimizer"]["lr"] == 1e-4


def test_every_run_starts_from_the_same_weights_and_an_unchanged_setting_repeats_exactly():
    base = load("xor_mlp")
    runs = compare(base, [RunConfig("as saved"), RunConfig("again"),
                          RunConfig("Adam", {"training.optimizer": "Adam",
                                             "training.lr": 0.01})], steps=30)
    a, b, adam = runs
    # the same setting twice: the same curve, step for step
    np.testing.assert_array_equal(a.history["loss"][1], b.history["loss"][1])
    # a different optimizer from the same start: the same first loss, then another path
    assert a.history["loss"][1][0] == adam.history["loss"][1][0]
    assert not np.allclose(a.history["loss"][1], adam.history["loss"][1])
    assert a.final["step"] == adam.final["step"] == 30
    # ...and that start is the weights the base project's seed initialises
    fresh = Session(base, timeline=False)
    first = fresh.step()["loss"]
    assert first == pytest.approx(a.history["loss"][1][0], rel=1e-6)


def test_runs_start_from_the_projects_own_weights_where_their_shapes_are_kept():
    base = load("xor_mlp")
    trained = Session(base, timeline=False)
    trained.train(300)
    base.weights = trained.weights()
    fresh_loss = Session(load("xor_mlp"), timeline=False).step()["loss"]
    runs = compare(base, [RunConfig("trained"),
                          RunConfig("no fc2 bias", {"node.fc2.bias": False}),
                          RunConfig("16 units", {"node.fc1.out_features": 16,
                                                 "node.fc2.in_features": 16})], steps=1)
    first = [r.history["loss"][1][0] for r in runs]
    assert fresh_loss > 0.5
    assert first[0] < 0.2 and first[1] < 0.4  # fc1 and fc2.weight came from the trained run
    assert first[2] > 0.5  # both layers changed shape: they start fresh


def test_the_run_table_has_the_setting_final_loss_and_held_out_metric():
    runs = compare(load("xor_mlp"), [RunConfig("SGD"),
                                     RunConfig("SGD lr=1", {"training.lr": 1.0})], steps=40)
    header, rows = run_table(runs)
    assert header[:5] == ["run", "setting", "final loss", "held-out metric", "held-out"]
    assert rows[0][:2] == ["SGD", "(as saved)"] and rows[1][1] == "training.lr=1.0"
    for row, run in zip(rows, runs):
        assert row[2] == run.final["loss"]
        assert row[3:5] == ["val_accuracy", run.final["val_accuracy"]]
    assert held_out_metric({"loss": 1.0}) is None


def test_bad_configs_are_refused_before_any_training():
    base = load("xor_mlp")
    with pytest.raises(ValueError, match="labelled 'a'"):
        compare(base, [RunConfig("a"), RunConfig("a")])
    with pytest.raises(ValueError, match="at least one"):
        compare(base, [])
    with pytest.raises(ProjectError, match="run 'bad'.*training.batch_size"):
        compare(base, [RunConfig("ok"), RunConfig("bad", {"training.batch_size": 0})])


def test_progress_reports_each_step_and_can_stop():
    seen = []

    def progress(run, step, steps, n_runs):
        seen.append((run, step, steps, n_runs))
        return run == 1 and step == 3

    with pytest.raises(CompareCancelled) as info:
        compare(load("xor_mlp"), [RunConfig("a"), RunConfig("b"), RunConfig("c")], steps=5,
                progress=progress)
    assert [r.config.label for r in info.value.results] == ["a", "b"]
    assert seen[:5] == [(0, s, 5, 3) for s in range(1, 6)]
    assert seen[-1] == (1, 3, 5, 3)


def test_a_glob_node_id_sets_the_param_on_every_matching_node_that_has_it():
    base = load("init_variance")
    v = apply_overrides(base, {"node.tanh_small*.init": "xavier_normal"})
    init = {n["id"]: n.get("params", {}).get("init") for n in v.graph["nodes"]}
    assert sorted(k for k, i in init.items() if k.startswith("tanh_small")
                  and i == "xavier_normal") == sorted(f"tanh_small{k}" for k in range(1, 11))
    assert init["tanh_xavier1"] == "xavier_normal" and init["relu_large1"] == "normal"
    assert "init" not in next(n for n in v.graph["nodes"]
                              if n["id"] == "tanh_small1_act").get("params", {})
    assert apply_overrides(base, {"node.relu_he[12].init": "normal"}).graph == \
        apply_overrides(base, {"node.relu_he1.init": "normal",
                               "node.relu_he2.init": "normal"}).graph
    with pytest.raises(ProjectError, match=r"node\.tanh_smol\*\.init: no node id matches "
                                           r"the glob 'tanh_smol\*'; nodes: tanh_small\d+, .* "
                                           r"and 69 others$"):
        apply_overrides(base, {"node.tanh_smol*.init": "xavier_normal"})
    with pytest.raises(ProjectError, match=r"none of the nodes the glob matches "
                                           r"\(tanh_small1_act, .*\) has a param 'init'"):
        apply_overrides(base, {"node.tanh_small*_act.init": "xavier_normal"})
    with pytest.raises(ProjectError, match=r"node 'tanh_small1_act' \(Tanh\) has no param "
                                           r"'init'"):
        apply_overrides(base, {"node.tanh_small1_act.init": "xavier_normal"})
    with pytest.raises(ProjectError, match="init must be one of"):
        apply_overrides(base, {"node.tanh_small*.init": "bogus"})
    swapped = apply_overrides(load("xor_mlp"), {"node.tanh*.type": "ReLU"})
    assert next(n for n in swapped.graph["nodes"] if n["id"] == "tanh1")["type"] == "ReLU"


def test_a_glob_init_override_redraws_its_nodes_like_the_pairs_it_stands_for():
    base = load("xor_mlp")
    glob, pairs, saved = compare(base, [
        RunConfig("glob", {"node.fc*.init": "normal", "node.fc*.init_std": 2.0}),
        RunConfig("pairs", {"node.fc1.init": "normal", "node.fc1.init_std": 2.0,
                            "node.fc2.init": "normal", "node.fc2.init_std": 2.0}),
        RunConfig("as saved")], steps=5)
    np.testing.assert_array_equal(glob.history["loss"][1], pairs.history["loss"][1])
    # redrawn at std 2, not the saved start: another first loss
    assert abs(glob.history["loss"][1][0] - saved.history["loss"][1][0]) > 1e-3
