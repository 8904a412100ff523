"""regularization_overfit (issue 12): an MLP memorises 100 digit scans; weight decay, dropout
and batch norm, each switched on through a Compare Runs setting, shrink the gap.

The runs are made as :func:`playground.session.compare.compare` makes them (the same initial
weights, the overrides applied with ``apply_overrides``), so that each run's session is at
hand to measure the accuracy on the whole training split in eval mode; one test checks that
compare itself gives the same held-out numbers.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from playground import data
from playground.project import ProjectError, load
from playground.session import Session
from playground.session.compare import RunConfig, apply_overrides, compare, run_table

_spec = importlib.util.spec_from_file_location(
    "make_vision_lessons", Path(__file__).resolve().parents[2] / "tools/make_vision_lessons.py")
lessons = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lessons)
RUNS = lessons.REGULARIZATION_RUNS


@lru_cache(maxsize=None)
def runs(seed: int) -> dict[str, dict[str, float]]:
    """{label: train_accuracy, train_loss (whole training split, eval mode), val_accuracy,
    val_loss} after the preset's steps, every run from the seed's initial weights."""
    base = load("regularization_overfit")
    base.training.seed = seed
    initial = Session(base, timeline=False).weights()
    out = {}
    for label, overrides in RUNS.items():
        variant = apply_overrides(base, overrides)
        variant.weights = {k: v.copy() for k, v in initial.items()}
        s = Session(variant, timeline=False)
        final = s.train(base.training.steps)
        train = s.dataset.train
        with s.inference():
            trace = s.run(s.feeds(train.input, train.target))
            fit = s.recipe.metrics(trace, s.recipe.objective(trace), train.target, prefix="")
        out[label] = {"train_accuracy": fit["accuracy"], "train_loss": fit["loss"],
                      "val_accuracy": final["val_accuracy"], "val_loss": final["val_loss"]}
    return out


def gap(run: dict[str, float], metric: str) -> float:
    if metric == "accuracy":
        return run["train_accuracy"] - run["val_accuracy"]
    return run["val_loss"] - run["train_loss"]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_plain_net_memorises_the_training_set_with_a_clear_gap(seed):
    none = runs(seed)["none"]
    assert none["train_accuracy"] == 1.0 and none["train_loss"] < 0.01, none
    assert 0.80 <= none["val_accuracy"] <= 0.90, none
    assert gap(none, "accuracy") >= 0.10 and gap(none, "loss") >= 0.7, none


@pytest.mark.parametrize("seed", [0, 1])
def test_weight_decay_shrinks_the_loss_gap_by_a_third(seed):
    r = runs(seed)
    assert gap(r["weight decay"], "loss") <= 0.65 * gap(r["none"], "loss"), r
    assert r["weight decay"]["val_loss"] <= 0.6 * r["none"]["val_loss"], r
    # it shrinks the net's confidence, not its fit: the training set is still learnt
    assert r["weight decay"]["train_accuracy"] == 1.0, r


@pytest.mark.parametrize("seed", [0, 1])
def test_dropout_and_batch_norm_raise_held_out_accuracy(seed):
    r = runs(seed)
    for label in ("dropout", "batch norm"):
        assert r[label]["val_accuracy"] >= r["none"]["val_accuracy"] + 0.015, (label, r)
        assert gap(r[label], "accuracy") <= gap(r["none"], "accuracy") - 0.015, (label, r)
        assert gap(r[label], "loss") <= 0.75 * gap(r["none"], "loss"), (label, r)


def test_compare_runs_gives_the_same_held_out_numbers():
    base = load("regularization_overfit")
    results = compare(base, [RunConfig(label, RUNS[label]) for label in ("none", "dropout")])
    for result in results:
        mine = runs(0)[result.config.label]
        assert result.final["val_accuracy"] == pytest.approx(mine["val_accuracy"], abs=1e-9)
        assert result.final["val_loss"] == pytest.approx(mine["val_loss"], rel=1e-5)
        steps, values = result.history["val_loss"]
        assert steps[-1] == base.training.steps and len(values) >= 10  # a held-out curve
    # the run table shows the held-out loss too: where weight decay's effect shows
    header, rows = run_table(results)
    col = header.index("held-out loss")
    assert [row[col] for row in rows] == [r.final["val_loss"] for r in results]


def test_the_batch_norm_setting_makes_the_placeholders_batch_norm_layers():
    base = load("regularization_overfit")
    variant = apply_overrides(base, RUNS["batch norm"])
    nodes = {n["id"]: n for n in variant.graph["nodes"]}
    assert nodes["bn1"]["type"] == nodes["bn2"]["type"] == "BatchNorm1d"
    assert nodes["bn1"]["params"] == {"num_features": 256}
    assert {n["id"]: n["type"] for n in base.graph["nodes"]}["bn1"] == "Identity"  # untouched
    session = Session(variant, timeline=False)
    assert session.weights()["bn1.weight"].shape == (256,)
    # a swap keeps only the params the new type takes, and refuses types whose ports differ
    back = apply_overrides(variant, {"node.bn1.type": "Identity"})
    assert next(n for n in back.graph["nodes"] if n["id"] == "bn1")["params"] == {}
    with pytest.raises(ProjectError, match="Concat.*ports differ"):
        apply_overrides(base, {"node.bn1.type": "Concat"})
    with pytest.raises(ProjectError, match="'Batchnorm' is not a node type"):
        apply_overrides(base, {"node.bn1.type": "Batchnorm"})


def test_digits_subset_is_class_balanced_seeded_and_keeps_the_held_out_split():
    full = data.load("digits")
    d = data.load("digits_subset", n_samples=100, seed=0)
    assert d.train.input.shape == (100, 64) and np.bincount(d.train.target).tolist() == [10] * 10
    assert np.array_equal(d.val.input, full.val.input)
    # every kept scan is a training scan, no scan twice
    rows = {r.tobytes() for r in full.train.input}
    assert all(r.tobytes() in rows for r in d.train.input)
    assert len({r.tobytes() for r in d.train.input}) == 100
    again, other = data.load("digits_subset", n_samples=100, seed=0), \
        data.load("digits_subset", n_samples=100, seed=1)
    assert np.array_equal(again.train.input, d.train.input)
    assert not np.array_equal(other.train.input, d.train.input)
    assert np.bincount(data.load("digits_subset", n_samples=25).train.target).tolist() == \
        [3] * 5 + [2] * 5
    assert data.load("digits_subset", n_samples=1438).train.input.shape == (1438, 64)
    with pytest.raises(ValueError, match=r"n_samples must be an integer in \[10, 1438\]"):
        data.load("digits_subset", n_samples=2000)


def test_the_notes_give_the_compare_rows_and_the_stated_numbers():
    p = load("regularization_overfit")
    for heading in ("What it shows", "What to watch", "Things to try"):
        assert f"\n{heading}\n" in p.notes
    for label, overrides in RUNS.items():
        assert f"- {label}: `{lessons.setting_text(overrides)}`" in p.notes or not overrides
    assert p.topic == "Foundations" and "87%" in p.result and "87%" in p.notes
