"""Attention for recurrent encoder-decoders (playground.engine.seq_attention): Bahdanau's
additive score, Luong's dot and general scores, the masked softmax over source positions.
Central differences in float64 for every op, and parity with the same formulas built
from torch primitives (torch has no such ops) in values and every gradient."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, nn
from playground.engine.testing import OpCase, gradcheck


def _n(*shape):
    return lambda rng: rng.standard_normal(shape)


def _mask(n, s, full_row=False):
    def make(rng):
        m = rng.random((n, s)) < 0.4
        m[:, 0] = False
        if full_row:
            m[-1] = True  # every source position of the last example is padding
        return m
    return make


def _args(*makers):
    return lambda rng: tuple(m(rng) if callable(m) else m for m in makers)


# Each case: (engine fn, torch fn, makers). The engine fn gets F = playground's functional.
def _additive_torch(torch, q, k, wq, wk, b, v):
    z = (q @ wq.T)[:, :, None, :] + (k @ wk.T + (0 if b is None else b))[:, None, :, :]
    return torch.tanh(z) @ v


def _softmax_torch(torch, e, m):
    if m is None:
        return torch.softmax(e, dim=-1)
    e = e.masked_fill(m[:, None, :], float("-inf"))
    w = torch.softmax(e, dim=-1)
    return torch.nan_to_num(w, nan=0.0)  # fully masked rows: 0, as ours


CASES = {
    "additive_scores": (
        lambda q, k, wq, wk, b, v: F.additive_attention_scores(q, k, wq, wk, b, v),
        _additive_torch, _args(_n(2, 3, 4), _n(2, 5, 6), _n(7, 4), _n(7, 6), _n(7), _n(7))),
    "additive_scores_no_bias": (
        lambda q, k, wq, wk, v: F.additive_attention_scores(q, k, wq, wk, None, v),
        lambda torch, q, k, wq, wk, v: _additive_torch(torch, q, k, wq, wk, None, v),
        _args(_n(1, 4, 3), _n(1, 2, 3), _n(5, 3), _n(5, 3), _n(5))),
    "masked_softmax": (
        lambda e: F.masked_softmax(e), lambda torch, e: _softmax_torch(torch, e, None),
        _args(_n(2, 3, 5))),
    "masked_softmax_padding": (
        lambda e, m: F.masked_softmax(e, m), _softmax_torch, _args(_n(3, 4, 6), _mask(3, 6))),
    "masked_softmax_fully_masked_row": (
        lambda e, m: F.masked_softmax(e, m), _softmax_torch,
        _args(_n(3, 2, 4), _mask(3, 4, full_row=True))),
    "additive_attention_padding": (
        lambda q, k, x, wq, wk, b, v, m: F.additive_attention(q, k, x, wq, wk, b, v, m)[0],
        lambda torch, q, k, x, wq, wk, b, v, m: _softmax_torch(
            torch, _additive_torch(torch, q, k, wq, wk, b, v), m) @ x,
        _args(_n(2, 3, 4), _n(2, 5, 6), _n(2, 5, 2), _n(7, 4), _n(7, 6), _n(7), _n(7),
              _mask(2, 5))),
    "additive_attention_weights": (
        lambda q, k, wq, wk, b, v: F.additive_attention(q, k, k, wq, wk, b, v)[1],
        lambda torch, q, k, wq, wk, b, v: _softmax_torch(
            torch, _additive_torch(torch, q, k, wq, wk, b, v), None),
        _args(_n(2, 3, 4), _n(2, 5, 6), _n(7, 4), _n(7, 6), _n(7), _n(7))),
    "luong_dot": (
        lambda q, k, x, m: F.luong_attention(q, k, x, None, m)[0],
        lambda torch, q, k, x, m: _softmax_torch(torch, q @ k.transpose(1, 2), m) @ x,
        _args(_n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 3), _mask(2, 5))),
    "luong_general": (
        lambda q, k, x, w, m: F.luong_attention(q, k, x, w, m)[0],
        lambda torch, q, k, x, w, m: _softmax_torch(torch, q @ w @ k.transpose(1, 2), m) @ x,
        _args(_n(2, 3, 4), _n(2, 5, 6), _n(2, 5, 3), _n(4, 6), _mask(2, 5))),
    "luong_general_weights": (
        lambda q, k, w: F.luong_attention(q, k, k, w)[1],
        lambda torch, q, k, w: _softmax_torch(torch, q @ w @ k.transpose(1, 2), None),
        _args(_n(1, 4, 3), _n(1, 6, 2), _n(3, 2))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_central_differences(name):
    fn, _, make = CASES[name]
    gradcheck(OpCase(name, lambda F_, *a: fn(*a), make))


@pytest.mark.parametrize("name", list(CASES))
def test_matches_the_same_formula_in_torch(name):
    torch = pytest.importorskip("torch")
    fn, ref, make = CASES[name]
    args = make(np.random.default_rng(1))
    ours = [Tensor(a.copy(), requires_grad=True) if a.dtype == np.float64 else a
            for a in args]
    theirs = [torch.tensor(a, requires_grad=True) if a.dtype == np.float64
              else torch.from_numpy(a) for a in args]
    out, want = fn(*ours), ref(torch, *theirs)
    np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(v)
    want.backward(torch.from_numpy(v))
    for a, b in zip(ours, theirs):
        if isinstance(a, Tensor):
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_padding_gets_no_weight_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    m = _mask(4, 7, full_row=True)(rng)
    w = F.masked_softmax(Tensor(rng.standard_normal((4, 3, 7))), m).data
    assert (w[np.broadcast_to(m[:, None], w.shape)] == 0).all()
    np.testing.assert_allclose(w[:-1].sum(-1), 1.0, rtol=1e-6)
    assert (w[-1] == 0).all()  # every position padding: no weight at all, not NaN


def test_a_padded_source_gives_the_context_of_the_unpadded_one():
    """Appending padding to the source leaves the context unchanged."""
    rng = np.random.default_rng(3)
    att = nn.AdditiveAttention(4, 6, 8, dtype=np.float64)
    q, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 6))
    short, _ = att(Tensor(q), Tensor(k))
    padded = np.concatenate([k, rng.standard_normal((2, 3, 6))], axis=1)
    mask = np.zeros((2, 8), bool)
    mask[:, 5:] = True
    long_, w = att(Tensor(q), Tensor(padded), key_padding_mask=mask)
    np.testing.assert_allclose(long_.data, short.data, rtol=1e-12)
    assert w.shape == (2, 3, 8) and (w.data[:, :, 5:] == 0).all()


def test_modules_parameters_and_shapes():
    add = nn.AdditiveAttention(4, 6, 8)
    assert {n: p.shape for n, p in add.named_parameters()} == {
        "q_proj_weight": (8, 4), "k_proj_weight": (8, 6), "bias": (8,), "v": (8,)}
    ctx, w = add(Tensor(np.ones((2, 3, 4), np.float32)), Tensor(np.ones((2, 5, 6), np.float32)))
    assert ctx.shape == (2, 3, 6) and w.shape == (2, 3, 5) and ctx.dtype == np.float32
    general = nn.LuongAttention(4, 6, score="general")
    assert [(n, p.shape) for n, p in general.named_parameters()] == [("weight", (4, 6))]
    assert list(nn.LuongAttention(4, 4).parameters()) == []
    with pytest.raises(ValueError, match="score='general'"):
        nn.LuongAttention(4, 6, score="dot")
    with pytest.raises(ValueError, match="'dot' or 'general'"):
        nn.LuongAttention(4, 4, score="concat")


def test_bad_shapes_say_what_was_expected():
    rng = np.random.default_rng(0)
    q, k = Tensor(rng.standard_normal((2, 3, 4))), Tensor(rng.standard_normal((2, 5, 6)))
    with pytest.raises(ValueError, match=r"w_query must be \(A, D_q\) = \(7, 4\)"):
        F.additive_attention_scores(q, k, Tensor(np.ones((7, 5))), Tensor(np.ones((7, 6))),
                                    None, Tensor(np.ones(7)))
    with pytest.raises(ValueError, match=r"key_padding_mask must be bool \(N, S\) = \(2, 5\)"):
        F.masked_softmax(Tensor(rng.standard_normal((2, 3, 5))), np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="D_q=4 and D_k=6"):
        F.luong_attention(q, k, k)
    with pytest.raises(ValueError, match=r"3-D \(N, length, features\)"):
        F.luong_attention(Tensor(np.ones((3, 4))), k, k)


def test_additive_scores_without_grad_are_the_same_computed_in_chunks(monkeypatch):
    from playground.engine import no_grad, seq_attention

    rng = np.random.default_rng(4)
    args = [Tensor(rng.standard_normal(s)) for s in ((5, 3, 4), (5, 6, 2), (7, 4), (7, 2),
                                                     (7,), (7,))]
    want = F.additive_attention_scores(*[Tensor(a.data, requires_grad=True) for a in args])
    monkeypatch.setattr(seq_attention, "_CHUNK", 2 * 3 * 6 * 7)  # two examples per chunk
    with no_grad():
        got = F.additive_attention_scores(*args)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-12)
