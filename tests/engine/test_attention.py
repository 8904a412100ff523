"""The attention family beyond parity: dtypes, weights that sum to one, masks, the
softmax's underflow fallback, dropout on the weights, deep copies in TransformerEncoder,
and errors."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, manual_seed, nn


def test_float32_in_float32_out():
    rng = np.random.default_rng(0)
    q, k, v = (Tensor(rng.standard_normal((2, 3, 4, 8)).astype(np.float32),
                      requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == np.float32
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    y = layer(Tensor(rng.standard_normal((2, 5, 8)).astype(np.float32)))
    assert y.dtype == np.float32 and y.shape == (2, 5, 8)


def test_weights_are_probabilities_and_respect_masks():
    rng = np.random.default_rng(1)
    m = nn.MultiheadAttention(6, 3, batch_first=True, dtype=np.float64)
    x = Tensor(rng.standard_normal((2, 4, 6)))
    kpm = np.array([[False, False, True, True], [False, False, False, False]])
    causal = np.triu(np.ones((4, 4), bool), 1)  # True = not allowed
    _, w = m(x, x, x, key_padding_mask=kpm, attn_mask=causal, average_attn_weights=False)
    assert w.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(w.data.sum(-1), 1.0, rtol=1e-12)
    assert (w.data[0, :, :, 2:] == 0).all()  # padded keys
    assert (w.data[:, :, np.triu_indices(4, 1)[0], np.triu_indices(4, 1)[1]] == 0).all()


def test_softmax_survives_rows_far_below_their_block_max():
    """The softmax shifts by a block max; a row 1000 below it must still normalise."""
    q = np.zeros((1, 2, 3))
    q[0, 0] = 30.0  # scores of row 0 are huge, row 1 tiny
    k = np.ones((1, 4, 3)) * np.array([[1.0], [2.0], [3.0], [-40.0]])
    v = np.random.default_rng(2).standard_normal((1, 4, 2))
    q[0, 1] = -30.0
    out = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v)).data
    s = q @ k.swapaxes(1, 2) / np.sqrt(3)
    p = np.exp(s - s.max(-1, keepdims=True))
    want = (p / p.sum(-1, keepdims=True)) @ v
    np.testing.assert_allclose(out, want, rtol=1e-12)
    out32 = F.scaled_dot_product_attention(*(Tensor(a.astype(np.float32))
                                             for a in (q, k, v))).data
    assert np.isfinite(out32).all()
    np.testing.assert_allclose(out32, want, rtol=1e-4, atol=1e-5)


def test_dropout_on_weights_only_in_training_and_seeded():
    m = nn.MultiheadAttention(4, 2, dropout=0.5, dtype=np.float64)
    x = Tensor(np.random.default_rng(3).standard_normal((5, 2, 4)))
    manual_seed(1)
    a, wa = m(x, x, x)
    manual_seed(1)
    b, wb = m(x, x, x)
    np.testing.assert_array_equal(a.data, b.data)
    assert (wa.data == 0).any()  # dropped weights are returned after dropout, as torch
    m.eval()
    c, wc = m(x, x, x)
    np.testing.assert_allclose(wc.data.sum(-1), 1.0, rtol=1e-12)


def test_encoder_clones_are_independent_copies():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 3)
    keys = list(enc.state_dict())
    assert keys[0] == "layers.0.self_attn.in_proj_weight"
    assert sum(k.endswith("linear1.weight") for k in keys) == 3
    w0 = enc.layers[0].linear1.weight
    w1 = enc.layers[1].linear1.weight
    assert w0 is not w1 and w0.data is not w1.data
    np.testing.assert_array_equal(w0.data, w1.data)  # deep copies of one layer, as torch


@pytest.mark.parametrize("call, exc, match", [
    (lambda: nn.MultiheadAttention(6, 4), ValueError, "divisible"),
    (lambda: nn.MultiheadAttention(6, 3, add_bias_kv=True), NotImplementedError, "bias"),
    (lambda: nn.MultiheadAttention(4, 2)(*[Tensor(np.zeros((3, 2, 4)))] * 3, is_causal=True),
     RuntimeError, "attn_mask"),
    (lambda: nn.MultiheadAttention(4, 2)(*[Tensor(np.zeros((3, 2, 4)))] * 3,
                                         attn_mask=np.zeros((2, 3), bool)),
     ValueError, "attn_mask"),
    (lambda: nn.MultiheadAttention(4, 2)(*[Tensor(np.zeros((3, 2, 4)))] * 3,
                                         key_padding_mask=np.zeros((3, 2), bool)),
     ValueError, "key_padding_mask"),
    (lambda: F.scaled_dot_product_attention(*[Tensor(np.zeros((2, 3, 4)))] * 2,
                                            Tensor(np.zeros((2, 5, 4)))),
     ValueError, "source length"),
    (lambda: nn.TransformerEncoderLayer(4, 2, activation="swish"), RuntimeError, "relu/gelu"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
