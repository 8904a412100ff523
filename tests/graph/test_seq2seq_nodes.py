"""AdditiveAttention and LuongAttention nodes: shape inference and its messages, the
padding mask from the source tokens, the summary's cost formulas, and the node's forward
against the engine's functional op."""

from __future__ import annotations

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, manual_seed
from playground.graph import GraphModel, compile, summary

N = 3


def _graph(type_name, params, query=(4, 6), key=(5, 8), value=None, tokens=False):
    m = GraphModel()
    m.add_node("Input", {"shape": query}, node_id="q")
    m.add_node("Input", {"shape": key}, node_id="k")
    m.add_node(type_name, params, node_id="att")
    m.connect("q", "output", "att", "query")
    m.connect("k", "output", "att", "key")
    if value is not None:
        m.add_node("Input", {"shape": value}, node_id="v")
        m.connect("v", "output", "att", "value")
    if tokens:
        m.add_node("Input", {"shape": (key[0],), "dtype": "int64"}, node_id="tok")
        m.connect("tok", "output", "att", "src_tokens")
    return m


ADD = dict(query_dim=6, key_dim=8, attn_dim=7)


def test_shapes_of_context_and_alignment():
    m = _graph("AdditiveAttention", ADD, value=(5, 3))
    assert m.errors() == {}
    assert m.state("att").outputs == {"output": (None, 4, 3), "attn_weights": (None, 4, 5)}
    m = _graph("LuongAttention", dict(query_dim=6, key_dim=8, score="general"))
    assert m.state("att").outputs == {"output": (None, 4, 8), "attn_weights": (None, 4, 5)}


def _error(m, node="att"):
    state = m.state(node)
    assert state.status == "error"
    return state


def test_dot_score_with_unequal_widths_offers_the_general_score():
    state = _error(_graph("LuongAttention", dict(query_dim=6, key_dim=8, score="dot")))
    assert "score='dot' needs queries and keys of one width" in state.message
    assert "query_dim=6 and key_dim=8" in state.message
    assert state.fix == ("score", "general")


def test_a_width_mismatch_names_the_param_and_the_upstream_node():
    state = _error(_graph("AdditiveAttention", dict(ADD, key_dim=16)))
    assert "expects key_dim=16, got 8 from 'k'" in state.message
    assert state.fix == ("key_dim", 8)


def test_sequence_first_input_is_refused_with_the_layout_it_needs():
    m = GraphModel()
    m.add_node("Input", {"shape": (6,)}, node_id="q")  # (N, 6): not a sequence
    m.add_node("Input", {"shape": (5, 8)}, node_id="k")
    m.add_node("AdditiveAttention", ADD, node_id="att")
    m.connect("q", "output", "att", "query")
    m.connect("k", "output", "att", "key")
    assert "expects a batch of sequences (N, L, query_dim)" in _error(m).message


def test_padding_needs_both_the_tokens_and_padding_idx():
    state = _error(_graph("AdditiveAttention", dict(ADD, padding_idx=0)))
    assert "padding_idx=0 but nothing in 'src_tokens'" in state.message
    assert state.fix == ("padding_idx", None)
    state = _error(_graph("AdditiveAttention", ADD, tokens=True))
    assert "padding_idx=None" in state.message and state.fix == ("padding_idx", 0)
    assert _graph("AdditiveAttention", dict(ADD, padding_idx=0), tokens=True).errors() == {}


def test_float_values_in_src_tokens_are_refused():
    m = _graph("AdditiveAttention", dict(ADD, padding_idx=0))
    m.add_node("Input", {"shape": (5,)}, node_id="f")
    m.connect("f", "output", "att", "src_tokens")
    assert "needs the integer source tokens (N, S)" in _error(m).message


def test_summary_costs_follow_the_formulas():
    m = _graph("AdditiveAttention", ADD, value=(5, 3))
    row = next(r for r in summary(m).rows if r.node == "att")
    a, dq, dk, length, source, dv = 7, 6, 8, 4, 5, 3
    assert row.params == a * dq + a * dk + a + a
    assert row.macs == length * a * dq + source * a * dk + length * source * a + \
        length * source * dv
    assert row.macs_formula.startswith("L*A*D_q + S*A*D_k + L*S*A + L*S*D_v = 4*7*6")
    m = _graph("LuongAttention", dict(query_dim=6, key_dim=8, score="general"))
    row = next(r for r in summary(m).rows if r.node == "att")
    assert (row.params, row.macs) == (48, 5 * 6 * 8 + 4 * 5 * 6 + 4 * 5 * 8)
    m = _graph("LuongAttention", dict(query_dim=6, key_dim=6), key=(5, 6))
    row = next(r for r in summary(m).rows if r.node == "att")
    assert (row.params, row.macs) == (0, 4 * 5 * 6 + 4 * 5 * 6)


@pytest.mark.parametrize("type_name, params", [
    ("AdditiveAttention", dict(ADD, padding_idx=0)),
    ("LuongAttention", dict(query_dim=6, key_dim=8, score="general", padding_idx=0))])
def test_the_node_masks_padding_and_matches_the_functional_op(type_name, params):
    manual_seed(0)
    m = _graph(type_name, params, tokens=True)
    program = compile(m)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((N, 4, 6)).astype(np.float32)
    k = rng.standard_normal((N, 5, 8)).astype(np.float32)
    tok = np.array([[3, 4, 0, 0, 0], [1, 1, 1, 1, 1], [2, 0, 5, 0, 7]])
    trace = program.run({"q": {"output": Tensor(q)}, "k": {"output": Tensor(k)},
                         "tok": {"output": Tensor(tok)}})
    w = trace["att"]["attn_weights"].data
    assert w.shape == (N, 4, 5)
    assert (w[np.broadcast_to((tok == 0)[:, None], w.shape)] == 0).all()
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    mod = program.call("att").module
    if type_name == "AdditiveAttention":
        want, _ = F.additive_attention(Tensor(q), Tensor(k), Tensor(k), mod.q_proj_weight,
                                       mod.k_proj_weight, mod.bias, mod.v, tok == 0)
    else:
        want, _ = F.luong_attention(Tensor(q), Tensor(k), Tensor(k), mod.weight, tok == 0)
    np.testing.assert_allclose(trace["att"]["output"].data, want.data, rtol=1e-6)
