"""File fuzzing: mutated and hostile project and weights files, generated from the presets,
are each loaded the way `playground train` and the GUI's Open load them. Every one either
loads or is refused with one ProjectError / GraphFormatError that names the field; nothing
else escapes, nothing hangs, and no file is unpickled.

Counts (seeded, the same every run): 1,440 mutated project files, 97 whole-file damages,
366 weights files. See the docstrings for what each family holds.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time

import numpy as np
import pytest

from hostile import (HOSTILE, field_name, hostile_weights, mutations, npz_bytes,
                     preset_weights, whole_file_damage)
from playground.graph import GraphFormatError, GraphModel, summary
from playground.project import ProjectError, load, preset_names, resolve
from playground.project import limits

REFUSALS = (ProjectError, GraphFormatError)
#: seconds a load may take before it counts as a hang: a guard, not a speed claim (a file
#: loads in ~1 ms; a loaded CI machine can stall a process for seconds)
HANG_S = 30.0


def open_like_the_app(path):
    """What `playground train` and File ▸ Open do before a session: load the file, build
    the graph, and infer and summarise it."""
    project = load(path)
    model = GraphModel.from_dict(project.graph)
    summary(model)
    return project, model


def test_mutated_project_files_load_or_are_refused_naming_the_field(tmp_path):
    """Every preset (and, for presets with blocks, the same with their insides written out
    and with a block open inside an open block), one value at a time replaced by NaN,
    Infinity, 1e999, a 400- or 5,000-digit number, a wrong type, a lone surrogate, or
    removed. The hostile numbers are refused with the field they were put in."""
    rng = random.Random(20261207)
    path = tmp_path / "m.json"
    counts = {"files": 0, "refused": 0, "loaded": 0}
    for text, where, token, name in mutations(rng, per_base=45):
        counts["files"] += 1
        path.write_text(text, encoding="utf-8")
        try:
            open_like_the_app(path)
            counts["loaded"] += 1
            assert token not in HOSTILE, (name, where, token, "loaded")
        except REFUSALS as exc:
            counts["refused"] += 1
            assert exc.message.strip() and "\n" not in exc.message, (name, where, exc.message)
            assert exc.field, (name, where, token, exc.message)
            if token in HOSTILE:  # refused by the reader, at the very field
                assert exc.field == field_name(where), (name, where, token, exc.field)
                assert field_name(where) in exc.message
    assert counts["files"] >= 1000, counts
    assert counts["refused"] > counts["files"] // 2 and counts["loaded"] > 20, counts


def test_whole_file_damage_is_refused_with_one_message(tmp_path):
    """Truncations, bad UTF-8, 100,000 nested brackets, empty and random files."""
    rng = random.Random(7)
    path = tmp_path / "d.json"
    n = 0
    for content, what in whole_file_damage(rng):
        n += 1
        path.write_bytes(content)
        t0 = time.perf_counter()
        with pytest.raises(REFUSALS) as err:
            open_like_the_app(path)
        assert time.perf_counter() - t0 < HANG_S, what
        msg = err.value.message
        assert msg.startswith(str(path)) and "\n" not in msg, (what, msg)
        if "nested" in what or "brackets" in what:
            assert "levels deep" in msg and f"at most {limits.MAX_JSON_DEPTH}" in msg, msg
        if "UTF-8" in what:
            assert "not UTF-8 text (byte" in msg, msg
        if "truncated" in what:
            assert "not valid JSON (line" in msg or "UTF-8" in msg, (what, msg)
    assert n >= 80


@pytest.mark.parametrize("token, field, text", [
    ("NaN", "training.lr", "NaN is not a number JSON allows"),
    ("Infinity", "training.lr", "Infinity is not a number JSON allows"),
    ("1e999", "training.lr", "1e999 is out of range"),
    ("1" + "0" * 400, "training.lr", "a 401-digit number is too large"),
    ("9" * 5000, "training.lr", "a 5000-digit number is too large"),
])
def test_hostile_numbers_name_the_field(tmp_path, token, field, text):
    raw = resolve("xor_mlp").read_text(encoding="utf-8")
    data = json.loads(raw)
    data["training"]["lr"] = "@@X@@"
    path = tmp_path / "n.json"
    path.write_text(json.dumps(data).replace('"@@X@@"', token))
    t0 = time.perf_counter()
    with pytest.raises(ProjectError) as err:
        load(path)
    assert time.perf_counter() - t0 < HANG_S
    assert err.value.field == field and f"{field}: {text}" in err.value.message


def test_a_duplicate_key_and_a_lone_surrogate_are_refused(tmp_path):
    path = tmp_path / "k.json"
    path.write_text('{"schema_version": 2, "name": "a", "name": "b", "graph": {"nodes": []}}')
    with pytest.raises(ProjectError, match="the key 'name' appears twice") as err:
        load(path)
    assert err.value.field == "name"
    data = json.loads(resolve("xor_mlp").read_text())
    data["graph"]["nodes"][1]["name"] = "@@X@@"
    path.write_text(json.dumps(data).replace('"@@X@@"', '"fc\\udc00"'))
    with pytest.raises(ProjectError, match="lone surrogate") as err:
        load(path)
    assert err.value.field == "graph.nodes[1].name"


def test_an_oversized_project_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("playground.project.jsonfile.MAX_PROJECT_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(resolve("xor_mlp").read_text() + " " * 2000)
    with pytest.raises(ProjectError, match=r"the project file is 4\.\d kB; at most 1\.0 kB"):
        load(path)


def _loads_within(path, seconds=HANG_S):
    """Run open_like_the_app in a thread; returns its exception (or None) and asserts it
    finished: a FIFO opened for reading would block forever."""
    box = {}

    def run():
        try:
            open_like_the_app(path)
            box["exc"] = None
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"loading {path} hangs"
    return box["exc"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_device_named_like_a_project_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    exc = _loads_within(fifo)
    assert isinstance(exc, ProjectError) and "not a regular file" in exc.message
    # a good project whose weights "file" is a FIFO, a folder, or a device
    for i, make in enumerate((os.mkfifo, os.mkdir,
                              lambda p: os.symlink("/dev/zero", p))):
        path = tmp_path / f"p{i}.json"
        path.write_text(resolve("xor_mlp").read_text())
        make(path.with_suffix(".npz"))
        exc = _loads_within(path)
        assert isinstance(exc, ProjectError), exc
        assert exc.field == "weights" and "not a regular file" in exc.message, exc.message


def test_hostile_weights_files_are_refused_naming_the_array(tmp_path):
    """For three presets: an .npy renamed .npz, non-npy and encrypted members, compression
    method 99, a header claiming 40 GB, object, int and structured dtypes, NaN and infinite
    weights, a bad run state, truncations and random byte flips. Valid variants (deflate,
    Fortran order, big-endian) load with the same values."""
    rng = random.Random(11)
    n = 0
    for name in ("xor_mlp", "cnn_digits", "transformer_reverse"):
        good = preset_weights(name)
        path = tmp_path / f"{name}.json"
        path.write_text(resolve(name).read_text())
        for content, what, must_refuse in hostile_weights(rng, good, flips=90):
            n += 1
            path.with_suffix(".npz").write_bytes(content)
            t0 = time.perf_counter()
            try:
                project, _ = open_like_the_app(path)
            except REFUSALS as exc:
                assert exc.field == "weights" or exc.field.startswith("weights."), \
                    (what, exc.field, exc.message)
                assert "\n" not in exc.message and exc.message.startswith(str(path)[:-5])
                if "40 GB" in what:
                    assert "header claims shape (10000000000,) (40.0 GB)" in exc.message
                if "object" in what:
                    assert "dtype object" in exc.message
                if "method 99" in what:
                    assert "compression method 99" in exc.message
                if "encrypted" in what:
                    assert "is encrypted" in exc.message
            else:
                assert not must_refuse, (name, what)
                if what != "bytes flipped" and "empty zip" not in what:
                    assert set(project.weights) == set(good), what
                    for k, v in good.items():
                        np.testing.assert_array_equal(project.weights[k], v)
                        assert project.weights[k].flags.c_contiguous
                        assert project.weights[k].dtype.isnative
            assert time.perf_counter() - t0 < HANG_S, what
    assert n >= 300


def test_weights_over_the_memory_budget_are_refused_before_allocating(tmp_path, monkeypatch):
    """A deflated member that inflates to 100 MB of zeros from a 100 kB file: refused from
    its claimed size when the budget is 1 MB (written in chunks: the test allocates little)."""
    import zipfile

    from hostile import _npy_header

    monkeypatch.setattr("playground.project.npzfile.memory_budget", lambda: 1_000_000)
    path = tmp_path / "p.json"
    path.write_text(resolve("xor_mlp").read_text())
    with zipfile.ZipFile(path.with_suffix(".npz"), "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("fc1.weight.npy", "w", force_zip64=True) as m:
            m.write(_npy_header("<f4", (25_000_000,)))
            chunk = bytes(1 << 22)
            for _ in range(100_000_000 // len(chunk) + 1):
                m.write(chunk[: min(len(chunk), 100_000_000 - (_ * len(chunk)))])
    assert path.with_suffix(".npz").stat().st_size < 1_000_000
    with pytest.raises(ProjectError, match=r"weights\['fc1.weight'\] would take 100.0 MB, "
                                           r"over the 1.0 MB left of the memory budget") as err:
        load(path)
    assert err.value.field == "weights.fc1.weight"


def test_the_cli_prints_one_line_and_fails(tmp_path, capsys):
    from playground.cli import main

    cases = {
        "nan.json": resolve("xor_mlp").read_text().replace('"lr": 0.1', '"lr": NaN'),
        "deep.json": "[" * 100_000,
        "digits.json": resolve("xor_mlp").read_text().replace('"seed": 0', '"seed": ' +
                                                                "9" * 5000),
    }
    assert '"lr": 0.1' in cases["nan.json"] or '"lr": NaN' in cases["nan.json"]
    for fname, text in cases.items():
        (tmp_path / fname).write_text(text)
    npy = tmp_path / "w.json"
    npy.write_text(resolve("xor_mlp").read_text())
    np.save(tmp_path / "w.npy", np.zeros(3))
    os.replace(tmp_path / "w.npy", tmp_path / "w.npz")
    for path in [*(tmp_path / f for f in cases), npy]:
        code = main(["train", str(path), "--steps", "1"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, (path, err)
        assert err[0].startswith(f"playground: error: {path.with_suffix('')}."), err


def test_presets_all_still_load():
    for name in preset_names():
        project, model = open_like_the_app(resolve(name))
        assert project.warnings == [] and len(model) > 0
