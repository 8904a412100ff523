"""The negative-sampling loss of skip-gram (engine/word2vec.py): central differences in
float64 and parity with the same formula built from torch primitives."""

from __future__ import annotations

import numpy as np
import pytest

from playground.engine import Tensor
from playground.engine.testing import OpCase, gradcheck
from playground.engine.word2vec import NegativeSamplingLoss, negative_sampling_loss

N, V, E, K = 5, 7, 4, 4  # K = 1 + 3 negatives


def _args(rng):
    v = rng.normal(size=(N, E))
    w = rng.normal(size=(V, E))
    t = rng.integers(0, V, size=(N, K))
    t[0, :] = 2  # the same id as context and negatives: gradients accumulate
    return v, w, t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_backward_matches_central_differences(reduction):
    case = OpCase(f"negative_sampling_{reduction}",
                  lambda F, v, w, t: negative_sampling_loss(v, w, t, reduction), _args)
    gradcheck(case, seed=3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_the_formula_in_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    v, w, t = _args(rng)
    v, w = v.astype(np.float32), w.astype(np.float32)
    tv = torch.tensor(v, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    u = torch.nn.functional.embedding(torch.tensor(t), tw)  # (N, K, E)
    s = torch.bmm(u, tv[:, :, None])[:, :, 0]
    per = -torch.nn.functional.logsigmoid(s[:, 0]) \
        - torch.nn.functional.logsigmoid(-s[:, 1:]).sum(1)
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    gup = rng.normal(size=ref.shape).astype(np.float32)
    ref.backward(torch.tensor(gup))
    ev, ew = Tensor(v, requires_grad=True), Tensor(w, requires_grad=True)
    out = negative_sampling_loss(ev, ew, t, reduction)
    assert out.dtype == np.float32 and out.shape == tuple(ref.shape)
    out.backward(Tensor(gup))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ev.grad, tv.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ew.grad, tw.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_module_starts_near_k_log_2_and_owns_the_output_table():
    m = NegativeSamplingLoss(V, E)
    assert m.weight.shape == (V, E) and np.abs(m.weight.data).max() <= 0.5 / E
    assert m.weight.data.std() > 0.1 / E
    rng = np.random.default_rng(1)
    v, _, t = _args(rng)
    loss = m(Tensor(v.astype(np.float32), requires_grad=True), t)
    assert float(loss.data) == pytest.approx(K * np.log(2), rel=0.1)  # scores near 0
    loss.backward()
    assert m.weight.grad.shape == (V, E) and np.abs(m.weight.grad).sum() > 0


def test_bad_input_is_named():
    v, w = Tensor(np.zeros((2, 3))), Tensor(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"target must be \(N, 1\+k\)"):
        negative_sampling_loss(v, w, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="integer word ids"):
        negative_sampling_loss(v, w, np.zeros((2, 2)))
    with pytest.raises(IndexError, match="word id 5 is out of range"):
        negative_sampling_loss(v, w, np.full((2, 2), 5))
    with pytest.raises(ValueError, match="same E"):
        negative_sampling_loss(v, Tensor(np.zeros((5, 4))), np.zeros((2, 2), dtype=np.int64))
