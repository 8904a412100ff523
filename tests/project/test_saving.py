"""Saving as one transaction: the JSON and its weights are replaced as a consistent pair,
a failed or killed save leaves the old pair and no temp, and the recovery rule on load
finishes a save interrupted between its two renames (see playground/project/format.py)."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from playground.graph import GraphModel
from playground.project import ProjectError, load, save
from playground.project.format import temp_path, weights_path


def _weights(value: float) -> dict:
    return {"fc1.weight": np.full((8, 2), value, np.float32),
            "fc1.bias": np.full(8, value, np.float32)}


def _project(notes="v1", value=1.0):
    p = load("xor_mlp")
    p.notes, p.weights = notes, _weights(value)
    return p


def _files(folder):
    return sorted(f.name for f in folder.iterdir())


def test_the_json_names_the_digest_of_its_weights(tmp_path):
    path = save(_project(), tmp_path / "p.json")
    digest = hashlib.sha256(weights_path(path).read_bytes()).hexdigest()
    assert json.loads(path.read_text())["weights_sha256"] == digest
    q = load(path)
    assert q.warnings == [] and q.weights["fc1.bias"][0] == 1.0
    assert _files(tmp_path) == ["p.json", "p.npz"]


def _crash_on(monkeypatch, nth: int):
    """Make the nth os.replace of the next save raise, as a kill between renames would
    leave the files (the temps stay, since a killed process cleans nothing)."""
    real = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == nth:
            raise KeyboardInterrupt("killed")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_a_save_killed_between_its_renames_is_finished_on_load(tmp_path, monkeypatch):
    path = save(_project("v1", 1.0), tmp_path / "p.json")
    _crash_on(monkeypatch, 2)  # the .npz is in place, the .json is not
    monkeypatch.setattr("pathlib.Path.unlink", lambda self, missing_ok=False: None)
    with pytest.raises(KeyboardInterrupt):
        save(_project("v2", 2.0), path)
    monkeypatch.undo()
    assert json.loads(path.read_text())["notes"] == "v1"  # old JSON, new weights
    assert temp_path(path).exists()
    q = load(path)
    assert q.notes == "v2" and q.weights["fc1.bias"][0] == 2.0
    assert any("interrupted" in w for w in q.warnings)
    assert not temp_path(path).exists() and json.loads(path.read_text())["notes"] == "v2"
    assert load(path).warnings == []


def test_weights_that_are_not_the_jsons_open_with_fresh_weights_and_a_warning(tmp_path):
    path = save(_project("v1", 1.0), tmp_path / "p.json")
    other = save(_project("v2", 2.0), tmp_path / "other.json")
    os.replace(weights_path(other), weights_path(path))  # replaced by hand, no temp
    q = load(path)
    assert q.notes == "v1" and q.weights is None
    assert len(q.warnings) == 1 and "not the weights file this project was saved with" in \
        q.warnings[0]
    weights_path(path).unlink()
    q = load(path)
    assert q.weights is None and "p.npz is missing" in q.warnings[0]


@pytest.mark.parametrize("fail_at", ["npz", "json", "first rename"])
def test_a_failed_save_leaves_the_old_pair_and_no_temp(tmp_path, monkeypatch, fail_at):
    path = save(_project("v1", 1.0), tmp_path / "p.json")
    old = path.read_bytes(), weights_path(path).read_bytes()
    if fail_at == "npz":
        def savez(f, **arrays):
            f.write(b"partial")
            raise OSError("disk full")
        monkeypatch.setattr(np, "savez", savez)
    elif fail_at == "json":
        real_open = open

        def fake_open(p, mode="r", *a, **k):
            if str(p).endswith(".json.saving"):
                raise OSError("disk full")
            return real_open(p, mode, *a, **k)
        monkeypatch.setattr("builtins.open", fake_open)
    else:
        def replace(src, dst):
            raise OSError("read-only file system")
        monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ProjectError, match="cannot save: (disk full|read-only)"):
        save(_project("v2", 2.0), path)
    monkeypatch.undo()
    assert (path.read_bytes(), weights_path(path).read_bytes()) == old
    assert _files(tmp_path) == ["p.json", "p.npz"]
    assert load(path).notes == "v1"


def test_stale_temps_from_a_kill_are_ignored_and_cleaned_by_the_next_save(tmp_path):
    path = save(_project("v1", 1.0), tmp_path / "p.json")
    temp_path(path).write_text('{"half a file')
    temp_path(weights_path(path)).write_bytes(b"PK\x03\x04 junk")
    (tmp_path / ".p.json.abc123.tmp").write_text("from an older version's save")
    q = load(path)
    assert q.notes == "v1" and q.warnings == []  # digests match: the temps are not read
    save(_project("v2", 2.0), path)
    assert _files(tmp_path) == ["p.json", "p.npz"]
    assert load(path).notes == "v2"


def test_object_and_integer_weights_are_refused_at_save(tmp_path):
    p = _project()
    p.weights["fc1.weight"] = np.array([{"a": 1}], dtype=object)
    with pytest.raises(ProjectError, match=r"weights\['fc1.weight'\] has dtype object") as err:
        save(p, tmp_path / "p.json")
    assert err.value.field == "weights.fc1.weight"
    p.weights["fc1.weight"] = np.arange(3)
    with pytest.raises(ProjectError, match="has dtype int64; weights must be floating"):
        save(p, tmp_path / "p.json")
    assert _files(tmp_path) == []


def test_a_project_saved_without_weights_drops_the_old_weights(tmp_path):
    path = save(_project(), tmp_path / "p.json")
    p = load(path)
    p.weights = None
    save(p, path)
    assert _files(tmp_path) == ["p.json"] and "weights_sha256" not in json.loads(path.read_text())
    assert load(path).weights is None


def test_non_finite_graph_values_are_refused_at_save_not_written(tmp_path):
    p = _project()
    p.graph["nodes"][1]["pos"] = [float("nan"), 0.0]
    with pytest.raises(ProjectError, match="not plain JSON"):
        save(p, tmp_path / "p.json")
    assert _files(tmp_path) == []


def _open_block_and_delete_inside(name: str, nested: bool):
    p = load(name)
    m = GraphModel.from_dict(p.graph)
    block = next(n for n in m.nodes() if m.is_composite(n))
    m.open_composite(block)
    if nested:
        inner = next(n for n in m.group_members(block) if m.is_composite(n))
        m.open_composite(inner)
        victim = m.group_members(inner)[0]
    else:
        victim = m.group_members(block)[0]
    m.remove_node(victim)
    p.graph = m.to_dict()
    return p, m


@pytest.mark.parametrize("name, nested", [("resnet18", False), ("transformer_reverse", False),
                                          ("densenet121", True), ("googlenet", False)])
def test_a_project_with_a_block_open_and_a_node_deleted_inside_reopens(tmp_path, name,
                                                                        nested):
    p, m = _open_block_and_delete_inside(name, nested)
    path = save(p, tmp_path / "p.json")
    m2 = GraphModel.from_dict(load(path).graph)
    assert m2.to_dict() == m.to_dict()
    assert m2.groups() == m.groups() and m2.errors() == m.errors()
    for g in reversed(m2.groups()):  # and the blocks close as the original's do
        m2.close_composite(g)
        m.close_composite(g)
    assert m2.to_dict() == m.to_dict()
