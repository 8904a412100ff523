"""Stateful fuzzing of GraphModel and the undo stack (tests/graph/graph_machine.py): at
least 10,000 edits, derandomized so every CI run makes the same ones, with the model,
inference, summary, undo/redo and save-reopen invariants checked after each. Plus
regression tests of the bugs the fuzzing found. The long run is benchmarks/fuzz_graph.py.
"""

from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("PySide6.QtGui")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

import graph_machine as gm  # noqa: E402
from playground.graph import GraphModel, ParamError  # noqa: E402
from playground.project import load  # noqa: E402

#: examples x steps per example: about 11,800 rules run (measured: ~30 s here).
SETTINGS = settings(max_examples=300, stateful_step_count=50, deadline=None, database=None,
                    derandomize=True, suppress_health_check=list(HealthCheck),
                    print_blob=False)


def test_ten_thousand_edits_keep_every_invariant():
    gm.GraphMachine.steps = 0
    gm.GraphMachine.signatures.clear()
    t0 = time.perf_counter()
    run_state_machine_as_test(gm.GraphMachine, settings=SETTINGS)
    seconds = time.perf_counter() - t0
    print(f"{gm.GraphMachine.steps} steps in {seconds:.1f} s; refusals "
          f"{dict(gm.GraphMachine.signatures)}")
    assert gm.GraphMachine.steps >= 10_000
    # the checks refused bad edits of every kind, as the app would
    assert {"ParamError", "CompositeError", "UnknownPortError", "PortTakenError",
            "PortKindError", "CycleError"} <= set(gm.GraphMachine.signatures)


# ------------------------------------------------------------------- what the fuzzing found


@pytest.mark.parametrize("block, params, fix", [
    ("MultiheadAttentionBlock", {"embed_dim": 1}, ("num_heads", 1)),
    ("MultiheadAttentionBlock", {"embed_dim": 10, "num_heads": 4}, ("num_heads", 2)),
    ("TransformerEncoderBlock", {"d_model": 47, "nhead": 2}, ("nhead", 1)),
    ("TransformerDecoderBlock", {"d_model": 1, "nhead": 31}, ("nhead", 1)),
])
def test_heads_that_do_not_divide_the_width_are_an_error_with_a_fix(block, params, fix):
    m = GraphModel()
    n = m.add_node(block, params)  # raised ZeroDivisionError for embed_dim < num_heads
    s = m.state(n)
    assert s.status == "error" and "divisible by" in s.message and s.fix == fix
    m.set_param(n, *s.fix)
    assert "divisible" not in m.state(n).message


@pytest.mark.parametrize("block", ["TransformerEncoderBlock", "TransformerDecoderBlock"])
def test_transformer_blocks_with_dropout_can_be_created(block):
    m = GraphModel()
    n = m.add_node(block, {"dropout": 0.1})  # raised "duplicate local id 'ff_dropout'"
    dropouts = {node.id for node in m.subgraph(n).nodes if node.type == "Dropout"}
    sides = ("attn",) if block.endswith("EncoderBlock") else ("self", "cross")
    assert dropouts == {f"{side}_dropout" for side in sides} | {"dropout", "ff_dropout"}


@pytest.mark.parametrize("value, text", [
    (float("inf"), "must be a whole number, got inf"),
    (float("nan"), "must be a whole number, got nan"),
    (10**400, "must be ≤ 1e+06, got a 401-digit number"),
    (10**5000, "got a number of over 4,000 digits"),
], ids=["inf", "nan", "400 digits", "5000 digits"])
def test_non_finite_and_huge_params_are_refused_with_a_message(value, text):
    with pytest.raises(ParamError, match=re.escape(text)):  # OverflowError before
        GraphModel().add_node("Linear", {"in_features": value})


def test_a_fix_is_only_offered_when_its_param_accepts_it():
    m = GraphModel()
    m.load(load("transformer_reverse").graph)
    m.set_param("shift", "bos", 10_000_000)  # tokens up to 10^7: 10^7 + 1 embeddings
    s = m.state("tgt_embed")
    assert s.status == "error" and "10000001" in s.message
    assert s.fix is None  # was ("num_embeddings", 10000001), which the param refuses
    m.set_param("shift", "bos", 12)
    assert m.state("tgt_embed").fix == ("num_embeddings", 13)


def test_undo_of_a_close_reopens_the_block_exactly():
    from PySide6.QtGui import QUndoStack

    from playground.ui import commands as c
    m, stack = GraphModel(), QUndoStack()
    m.load(load("transformer_reverse").graph)
    stack.push(c.OpenCompositeCommand(m, "src_pos"))
    stack.push(c.GroupCommand(m, ["encoder"]))  # a shifted node is folded into a group
    opened = m.to_dict()
    stack.push(c.CloseCompositeCommand(m, "src_pos"))
    stack.undo()  # reopened the group_1 node shifted a second time, 318 px too far
    assert m.to_dict() == opened


def test_a_blocked_node_names_the_same_upstream_error_whatever_the_wiring_order():
    def build(order):
        m = GraphModel()
        a = m.add_node("Input", {"shape": (4,)}, node_id="a")
        bad = m.add_node("Linear", {"in_features": 3}, node_id="bad")  # in error
        other = m.add_node("Linear", {"in_features": 5}, node_id="other")  # in error too
        add = m.add_node("Add", node_id="add")
        m.connect(a, "output", bad, "input")
        m.connect(a, "output", other, "input")
        wires = [(bad, "input"), (other, "other")]
        for src, port in (wires if order else wires[::-1]):
            m.connect(src, "output", add, port)
        return m.state(add).message

    assert build(True) == build(False) == "waiting for 'bad', which has an error"


def test_a_node_too_big_for_memory_is_an_error_at_inference(monkeypatch):
    m = GraphModel()
    x = m.add_node("Input", {"shape": (1_000_000,)})
    fc = m.add_node("Linear", {"in_features": 1_000_000, "out_features": 1_000_000})
    m.connect(x, "output", fc, "input")  # passed validation, then failed in Session()
    s = m.state(fc)
    assert s.status == "error" and "would have 1,000,001,000,000 parameters: 4.0 TB as " \
        "float32, 16.0 TB to train with Adam" in s.message
    monkeypatch.setattr("playground.graph.inference.memory_budget", lambda: 16 * 10**12)
    m.set_param(fc, "out_features", 999_999)
    assert m.state(fc).status == "ok"


def test_bce_after_a_linear_is_an_error_at_inference_not_at_the_first_step():
    m = GraphModel()
    x = m.add_node("Input", {"shape": (3,)})
    t = m.add_node("Input", {"shape": (1,)})
    fc = m.add_node("Linear", {"in_features": 3, "out_features": 1}, node_id="fc")
    loss = m.add_node("BCELoss")
    m.connect(x, "output", fc, "input")
    m.connect(fc, "output", loss, "input")
    m.connect(t, "output", loss, "target")
    assert "needs probabilities in [0, 1], but 'fc' is a Linear, whose output is any real " \
        "number. Put a Sigmoid before it, or use BCEWithLogitsLoss" in m.state(loss).message
    sig = m.add_node("Sigmoid")
    m.disconnect(m.edge_into(loss, "input"))
    m.connect(fc, "output", sig, "input")
    m.connect(sig, "output", loss, "input")
    assert m.state(loss).status == "ok"


def test_noise_without_a_reference_is_inferred_with_the_rows_it_emits():
    from playground.graph import compile
    m = GraphModel()
    z = m.add_node("NoiseSource", {"dim": 3, "batch_size": 5})
    assert m.state(z).outputs == {"output": (5, 3)}  # was (N, 3)
    assert compile(m).run({})[z]["output"].data.shape == (5, 3)


def test_undo_of_a_close_puts_the_group_back_in_its_place_among_the_open_ones():
    from PySide6.QtGui import QUndoStack

    from playground.ui import commands as c
    m, stack = GraphModel(), QUndoStack()
    m.load(load("resnet18").graph)
    stack.push(c.OpenCompositeCommand(m, "layer1_0"))
    stack.push(c.OpenCompositeCommand(m, "layer1_1"))
    opened = m.to_dict()
    stack.push(c.CloseCompositeCommand(m, "layer1_0"))
    stack.undo()  # listed layer1_0 after layer1_1 (found by benchmarks/fuzz_graph.py)
    assert m.groups() == ["layer1_0", "layer1_1"] and m.to_dict() == opened


def test_undo_of_a_dissolve_puts_the_group_back_in_its_place():
    from PySide6.QtGui import QUndoStack

    from playground.ui import commands as c
    m, stack = GraphModel(), QUndoStack()
    stack.push(c.AddNodeCommand(m, "Linear", {"in_features": 1}))
    stack.push(c.GroupCommand(m, ["linear_1"]))
    stack.push(c.GroupCommand(m, ["group_1"]))
    stack.push(c.OpenCompositeCommand(m, "group_2"))
    stack.push(c.OpenCompositeCommand(m, "group_2/group_1"))
    opened = m.to_dict()
    stack.push(c.DissolveGroupCommand(m, "group_2"))
    stack.undo()  # listed group_2 after its child
    assert m.groups() == ["group_2", "group_2/group_1"] and m.to_dict() == opened


def test_an_empty_block_opens_and_its_open_undoes():
    from PySide6.QtGui import QUndoStack

    from playground.ui import commands as c
    m, stack = GraphModel(), QUndoStack()
    stack.push(c.AddNodeCommand(m, "Group"))
    before = m.to_dict()
    stack.push(c.OpenCompositeCommand(m, "group_1"))
    assert m.groups() == ["group_1"]
    stack.undo()  # raised "'group_1' has no nodes left inside" inside QUndoCommand.undo
    assert m.to_dict() == before


def test_a_block_param_whose_inside_refuses_is_refused_before_the_push():
    from playground.ui import commands as c
    m = GraphModel()
    n = m.add_node("DenseBlock", {"num_layers": 2, "growth_rate": 32})
    with pytest.raises(ParamError, match="must be ≤ 100000, got 100032"):
        c.SetParamCommand(m, n, "in_channels", 100_000)  # raised inside redo
    assert m.params(n)["in_channels"] == 64
