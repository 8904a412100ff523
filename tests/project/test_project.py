"""Project files: validation that names the field, atomic saves, no pickle."""

import json

import numpy as np
import pytest

from playground import project as proj
from playground.project import ProjectError, load, save


def test_every_preset_loads_and_resolves_by_name():
    names = proj.preset_names()
    assert {"xor_mlp", "spiral_mlp", "digits_mlp"} <= set(names)
    for name in names:
        p = load(name)
        assert p.name == name and p.graph["nodes"] and p.notes


def test_round_trip_keeps_everything_exactly(tmp_path):
    p = load("xor_mlp")
    rng = np.random.default_rng(0)
    p.weights = {"fc1.weight": rng.standard_normal((8, 2)).astype(np.float32),
                 "fc1.bias": rng.standard_normal(8).astype(np.float32)}
    path = save(p, tmp_path / "mine.json")
    assert path.exists() and path.with_suffix(".npz").exists()
    q = load(path)
    assert q.graph == p.graph and q.training == p.training and q.notes == p.notes
    assert set(q.weights) == set(p.weights)
    for k in p.weights:
        np.testing.assert_array_equal(q.weights[k], p.weights[k])
        assert q.weights[k].dtype == np.float32


def _write(tmp_path, obj, name="p.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def _bad(tmp_path, mutate):
    raw = json.loads(proj.resolve("xor_mlp").read_text())
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ProjectError) as err:
        load(path)
    return err.value


def test_truncated_file_is_refused_and_left_as_it_was(tmp_path):
    text = proj.resolve("xor_mlp").read_text()
    path = _write(tmp_path, text[: len(text) // 2])
    with pytest.raises(ProjectError, match=r"not valid JSON \(line \d+, column \d+.*truncated"):
        load(path)
    assert path.read_text() == text[: len(text) // 2]


@pytest.mark.parametrize("mutate, field, text", [
    (lambda r: r["training"].update(lr=-1), "training.lr", "training.lr must be a number in "
                                                           "(0, 10], got -1"),
    (lambda r: r["training"].update(optimizer="Adamax"), "training.optimizer", "one of SGD, Adagrad, RMSprop, Adam, AdamW"),
    (lambda r: r["training"].update(batch_size=2.5), "training.batch_size", "whole number"),
    (lambda r: r["training"].update(lr_decay=1), "training.lr_decay", "not a training setting"),
    (lambda r: r.pop("schema_version"), "schema_version", "schema_version is missing"),
    (lambda r: r.update(schema_version=99), "schema_version", "newer than this app"),
    (lambda r: r["graph"]["nodes"][1].pop("type"), "graph.nodes[1].type", "is missing"),
    (lambda r: r["graph"]["nodes"][1].update(pos=[1]), "graph.nodes[1].pos", "two numbers"),
    (lambda r: r["graph"]["edges"][0].update(dst="nowhere"), "graph.edges[0].dst",
     "no node has id 'nowhere'"),
    (lambda r: r["recipe"].update(type="rl"), "recipe.type", "recipe.type must be one of"),
    (lambda r: r.update(extra=1), "extra", "unknown top-level field 'extra'"),
])
def test_bad_fields_are_named(tmp_path, mutate, field, text):
    err = _bad(tmp_path, mutate)
    assert err.field == field
    assert text in err.message


def test_weights_file_never_unpickles(tmp_path):
    p = load("xor_mlp")
    path = save(p, tmp_path / "x.json")
    np.savez(path.with_suffix(".npz"), evil=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ProjectError, match=r"weights\['evil'\] has dtype object") as err:
        load(path)
    assert err.value.field == "weights.evil"


def test_failed_save_leaves_old_files(tmp_path, monkeypatch):
    p = load("xor_mlp")
    p.weights = {"fc1.weight": np.ones((8, 2), np.float32)}
    path = save(p, tmp_path / "x.json")
    old_json, old_npz = path.read_bytes(), path.with_suffix(".npz").read_bytes()

    def boom(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    p.notes = "changed"
    with pytest.raises(ProjectError, match="cannot save: disk full"):
        save(p, path)
    assert path.read_bytes() == old_json
    assert path.with_suffix(".npz").read_bytes() == old_npz
    assert sorted(f.name for f in tmp_path.iterdir()) == ["x.json", "x.npz"]  # no temps


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ProjectError, match="no preset of that name. Presets: .*digits_mlp"):
        proj.resolve("nope_mlp")


@pytest.mark.parametrize("key, value, message", [
    ("@step", np.array([1.0, 2.0]), "must be the step count"),
    ("@step", np.array(-3.0), "must be the step count"),
    ("@step", np.array(2.5), "must be the step count"),
    ("@history.loss", np.zeros((3, 4)), "must be a (2, n) array"),
])
def test_a_bad_training_state_in_the_weights_file_is_refused(tmp_path, key, value, message):
    from playground.project import load, save

    path = save(load("xor_mlp"), tmp_path / "p.json")
    np.savez(path.with_suffix(".npz"), **{key: value})
    with pytest.raises(ProjectError) as err:
        load(path)
    assert message in err.value.message and err.value.field == f"weights.{key}"


def test_a_version_1_file_migrates_the_dataset_port_input_to_x(tmp_path):
    raw = json.loads((proj.presets_dir() / "xor_mlp.json").read_text())
    assert raw["schema_version"] == 2
    raw["schema_version"] = 1
    for e in raw["graph"]["edges"]:
        if e["src"] == "data":
            e["src_port"] = {"x": "input"}.get(e["src_port"], e["src_port"])
    assert any(e["src_port"] == "input" for e in raw["graph"]["edges"] if e["src"] == "data")
    p = proj.from_dict(raw)
    data_edges = [e for e in p.graph["edges"] if e["src"] == "data"]
    assert sorted(e["src_port"] for e in data_edges) == ["target", "x"]
    # a non-Dataset node's "input" is left alone, and the saved file is version 2
    path = save(p, tmp_path / "old.json")
    assert json.loads(path.read_text())["schema_version"] == proj.SCHEMA_VERSION
    from playground.session import Session
    assert Session(load(path), timeline=False).train(3)["step"] == 3
