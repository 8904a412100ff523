"""File ▸ Open on hostile files: each shows one error box naming the field, and the open
document (graph, undo stack, path) is left exactly as it was. Also the Inspector edit that
used to segfault the app (MultiheadAttentionBlock embed_dim=1)."""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

from playground.project import resolve


def _hostile_module():
    path = Path(__file__).resolve().parents[1] / "project" / "hostile.py"
    spec = importlib.util.spec_from_file_location("hostile_files", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    """(path, field the box must name, or "" for the file as a whole)."""
    h = _hostile_module()
    rng = random.Random(3)
    out = []
    for i, (text, where, token, name) in enumerate(h.mutations(rng, 6, ["xor_mlp",
                                                                         "transformer_reverse"])):
        if token in h.HOSTILE:
            p = tmp_path / f"m{i}.json"
            p.write_text(text)
            out.append((p, h.field_name(where)))
    for i, (content, what) in enumerate(h.whole_file_damage(rng)):
        if i % 6 == 0:
            p = tmp_path / f"d{i}.json"
            p.write_bytes(content)
            out.append((p, ""))
    good = h.preset_weights("xor_mlp")
    for i, (content, what, refuse) in enumerate(h.hostile_weights(rng, good, flips=0)):
        if refuse:
            p = tmp_path / f"w{i}.json"
            p.write_text(resolve("xor_mlp").read_text())
            p.with_suffix(".npz").write_bytes(content)
            out.append((p, "weights"))
    if hasattr(os, "mkfifo"):
        p = tmp_path / "fifo.json"
        p.write_text(resolve("xor_mlp").read_text())
        os.mkfifo(p.with_suffix(".npz"))
        out.append((p, "weights"))
    return out


def test_open_refuses_each_hostile_file_with_one_box_and_keeps_the_document(
        make_window, errors, tmp_path, qtbot):
    w = make_window("spiral_mlp")
    w.model.set_param("fc1", "out_features", 12)  # an edit the user would lose
    before = (w.model.to_dict(), w.project.path, w.undo_stack.count(), w.project.name)
    files = _bad_files(tmp_path)
    assert len(files) >= 30
    for path, field in files:
        errors.clear()
        assert w.open_project(path) is False, path
        assert len(errors) == 1, (path, errors)
        title, text = errors[0]
        assert title == "Cannot open project"
        if field == "weights":
            assert "Field: weights" in text, text
        elif field:
            assert f"Field: {field}" in text, (path, text)
        assert (w.model.to_dict(), w.project.path, w.undo_stack.count(),
                w.project.name) == before, path
    qtbot.wait(10)
    assert w.isVisible() and w.model.params("fc1")["out_features"] == 12


def test_inspector_embed_dim_1_on_attention_block_shows_an_error_not_a_crash(make_window,
                                                                             qtbot):
    w = make_window("transformer_reverse")
    block = w.model.add_node("MultiheadAttentionBlock", pos=(100.0, 600.0))
    scene = w.canvas.canvas_scene
    scene.clearSelection()
    scene.node_item(block).setSelected(True)
    assert w.inspector.node_id == block
    assert w.inspector.apply_param("embed_dim", 1)  # raised ZeroDivisionError in the slot
    qtbot.wait(50)  # paint the node and the docks
    s = w.model.state(block)
    assert s.status == "error" and "divisible by num_heads" in s.message
    assert s.fix == ("num_heads", 1)
    w.undo_stack.undo()
    assert w.model.params(block)["embed_dim"] == 16
    grab = w.grab()
    assert not grab.isNull()
