"""The transformer_reverse preset of issue 5: an encoder-decoder Transformer trained with
teacher forcing to reverse 8-digit sequences, its held-out token accuracy (teacher-forced
and greedy) and its cross-attention's anti-diagonal; the ShiftRight node it relies on."""

from __future__ import annotations

import numpy as np
import pytest

from playground.graph import GraphModel
from playground.graph.nodes.data import shift_right
from playground.project import load
from playground.session import Session
from playground.session.recipes import GREEDY_EVAL_SEQUENCES, greedy_decode


@pytest.fixture(scope="module")
def trained():
    s = Session(load("transformer_reverse"))
    start = s.evaluate()
    final = s.train(s.training.steps)
    return s, start, final


def _teacher_forced(s, x, y):
    with s.inference():
        trace = s.program.run(s.feeds(x, y))
    return trace


def test_reaches_95_percent_token_accuracy_teacher_forced_and_greedy(trained):
    s, start, final = trained
    assert start["val_accuracy"] < 0.2  # chance is 0.1 per digit
    assert final["step"] == 400
    assert final["val_accuracy"] >= 0.95
    assert final["val_greedy_accuracy"] >= 0.95
    # val_accuracy is per digit over the whole held-out split, from the logits that feed
    # the loss: (N, C, L) as PyTorch's CrossEntropyLoss takes them
    val = s.dataset.val
    assert val.input.shape == val.target.shape == (2000, 8)
    logits = _teacher_forced(s, val.input, val.target)["logits"]["output"].data
    assert logits.shape == (2000, 10, 8)
    assert final["val_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == val.target))
    # greedy decoding from the start token alone reverses the held-out sequences
    n = GREEDY_EVAL_SEQUENCES
    decoded = greedy_decode(s, val.input[:n])
    assert final["val_greedy_accuracy"] == pytest.approx(np.mean(decoded == val.target[:n]))
    assert np.mean(decoded == val.input[:n, ::-1]) >= 0.95
    assert np.mean((decoded == val.target[:n]).all(axis=1)) >= 0.8  # whole sequences


def test_cross_attention_is_the_anti_diagonal(trained):
    s, _, _ = trained
    val = s.dataset.val
    w = _teacher_forced(s, val.input[:500], val.target[:500])["cross_attn"]["attn_weights"].data
    assert w.shape == (500, 2, 8, 8)  # (N, heads, output position, input position)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    anti = np.eye(8)[::-1]
    per_head = (w.mean(0) * anti).sum(axis=(1, 2)) / 8  # mean weight on input 7 - i
    assert per_head.min() > 0.5, per_head  # uniform attention would give 1/8
    # output position i looks hardest at input position 7 - i, in every head
    assert (w.mean(0).argmax(-1) == np.arange(8)[::-1]).all()


def test_attention_view_labels_decoder_queries_by_the_token_they_predict(trained):
    s, _, _ = trained
    s.set_focus("cross_attn")
    att = s.snapshot().views["nodes"]["attention"]
    x, y = s.dataset.val.input, s.dataset.val.target  # the views use held-out examples
    row = next(i for i in range(len(x)) if
               att["key_tokens"] == tuple(str(t) for t in x[i]))
    assert att["query_tokens"] == tuple(f"→{t}" for t in y[row])
    s.set_focus("self_attn")  # its queries come from the shifted target, too
    own = s.snapshot().views["nodes"]["attention"]
    assert own["query_tokens"][0].startswith("→")
    assert own["key_tokens"] == tuple(str(i) for i in range(8))  # positions, not the source


def test_the_decoder_cannot_see_the_digit_it_predicts(trained):
    """Teacher forcing with a causal mask: the logits at position t do not change when the
    target digits from t on change, so nothing leaks from the answer."""
    s, _, _ = trained
    val = s.dataset.val
    x, y = val.input[:64], val.target[:64]
    base = _teacher_forced(s, x, y)["logits"]["output"].data
    for t in (0, 3, 7):
        other = y.copy()
        other[:, t:] = (other[:, t:] + 1 + np.arange(8 - t)) % 10
        changed = _teacher_forced(s, x, other)["logits"]["output"].data
        np.testing.assert_allclose(changed[:, :, :t + 1], base[:, :, :t + 1], atol=1e-5)
        if t < 7:
            assert not np.allclose(changed[:, :, t + 1:], base[:, :, t + 1:], atol=1e-3)


def test_steps_forward_and_backward_through_the_token_nodes(trained):
    s, _, _ = trained
    records = list(s.forward_steps())
    shift = next(r for r in records if r.node == "shift")
    np.testing.assert_array_equal(shift.outputs["output"][:, 0], 10)
    np.testing.assert_array_equal(shift.outputs["output"][:, 1:], s.batch[1][:, :-1])
    assert s.timeline is not None and len(s.timeline.entries()) >= 1
    backward = list(s.backward_steps(jacobians=False))
    assert backward and all(r.node != "shift" for r in backward)  # no gradient to tokens


@pytest.mark.parametrize("seed", [1, 2])
def test_other_seeds_also_reach_95_percent(seed):
    project = load("transformer_reverse")
    project.training.seed = seed
    project.training.eval_every = 400  # only the final evaluation
    s = Session(project, timeline=False)
    final = s.train(project.training.steps)
    assert final["val_accuracy"] >= 0.95 and final["val_greedy_accuracy"] >= 0.95


def test_shift_right_puts_the_start_token_first():
    y = np.array([[3, 1, 4], [1, 5, 9]])
    np.testing.assert_array_equal(shift_right(y, 10), [[10, 3, 1], [10, 1, 5]])


def _graph(bos):
    return {"nodes": [
        {"id": "data", "type": "Dataset", "params": {"dataset": "reverse"}},
        {"id": "shift", "type": "ShiftRight", "params": {"bos": bos}},
        {"id": "embed", "type": "Embedding", "params": {"num_embeddings": 10,
                                                         "embedding_dim": 4}}],
        "edges": [{"src": "data", "src_port": "target", "dst": "shift", "dst_port": "input"},
                  {"src": "shift", "src_port": "output", "dst": "embed",
                   "dst_port": "input"}]}


def test_shift_right_refuses_a_start_token_that_is_a_digit_and_sizes_the_embedding():
    m = GraphModel.from_dict(_graph(bos=3))
    state = m.states()["shift"]
    assert state.status == "error" and "bos=3" in state.message and state.fix == ("bos", 10)
    m = GraphModel.from_dict(_graph(bos=10))
    # the decoder's vocabulary is the 10 digits and the start token
    state = m.states()["embed"]
    assert "num_embeddings=11" in state.message and state.fix == ("num_embeddings", 11)


def test_greedy_and_beam_exact_match_and_beam_is_at_least_greedy(trained):
    """The preset declares recipe.decoding: the same greedy and beam search as
    seq2seq_dates, on the encoder run once and the decoder side step by step."""
    from playground.session.decoding import decode, exact_match

    s, _, final = trained
    val = s.dataset.val
    x, y = val.input[:GREEDY_EVAL_SEQUENCES], val.target[:GREEDY_EVAL_SEQUENCES]
    g, b = decode(s, x), decode(s, x, beam_width=5)
    assert final["exact_match_greedy"] == pytest.approx(exact_match(g.tokens, y))
    assert final["exact_match_beam"] == pytest.approx(exact_match(b.tokens, y))
    assert final["exact_match_greedy"] >= 0.8 and final["exact_match_beam"] >= 0.8
    assert (b.log_prob >= g.log_prob - 1e-4).all()  # float32 rounding of the sums
    np.testing.assert_array_equal(g.tokens, greedy_decode(s, x))  # no end token here
