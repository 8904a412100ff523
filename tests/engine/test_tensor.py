"""Tensor construction, dtype rules, operators with scalars and arrays, and error
messages."""

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, ones, rand, randn, tensor, zeros


# -- dtype rules --------------------------------------------------------------------------


@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32),
    ([1.0, 2.0], np.float32),
    (np.float64(2.0), np.float32),          # a numpy scalar is not an explicit array
    (np.array([1.0, 2.0]), np.float64),     # an explicit float64 array is kept
    (np.array([1.0], np.float32), np.float32),
    (np.array([1.0], np.float16), np.float32),
    ([1, 2, 3], np.int64),                  # class indices stay integer
    (np.array([1, 2], np.int32), np.int32),
    ([True, False], np.bool_),
])
def test_default_dtype_rules(data, dtype):
    assert Tensor(data).dtype == dtype
    assert tensor(data).dtype == dtype


def test_explicit_dtype_wins():
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_tensor_copies_but_Tensor_shares():
    a = np.ones(3, np.float32)
    assert np.shares_memory(Tensor(a).data, a)
    assert not np.shares_memory(tensor(a).data, a)


def test_requires_grad_needs_float():
    with pytest.raises(TypeError, match="floating point"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="cannot make a Tensor"):
        Tensor([object()])


def test_float32_ops_stay_float32_with_python_scalars():
    x = Tensor([1.0, 2.0])
    for y in (x + 1, 2.5 * x, x / 3, 1 - x, x ** 2, 2 ** x, -x, x.exp(), x.sum(), x.mean()):
        assert y.dtype == np.float32, y


def test_zero_dim_results_are_ndarrays():
    x = Tensor(3.0, requires_grad=True)
    y = (x * 2).exp() - 1
    assert type(y.data) is np.ndarray and y.shape == ()
    y.backward()
    assert type(x.grad) is np.ndarray


def test_factories():
    assert zeros(2, 3).shape == (2, 3) and zeros((2, 3)).dtype == np.float32
    assert ones(4).data.sum() == 4
    assert randn(3, 2, requires_grad=True).requires_grad
    r = rand(100)
    assert r.dtype == np.float32 and 0 <= r.data.min() and r.data.max() < 1


# -- properties ---------------------------------------------------------------------------


def test_basic_properties():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size() == (2, 3) and x.size(1) == 3
    assert x.numel() == 6 and len(x) == 2 and x.is_leaf
    assert Tensor([[4.0]]).item() == 4.0
    with pytest.raises(ValueError, match="6 elements"):
        x.item()
    with pytest.raises(RuntimeError, match=r"detach\(\).numpy\(\)"):
        x.numpy()
    assert x.detach().numpy() is x.data
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2)


def test_T_and_transpose():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.T.data, x.data.T)
    np.testing.assert_array_equal(x.transpose(0, 1).data, x.data.T)
    with pytest.raises(ValueError, match="transpose"):
        Tensor(np.zeros((2, 3, 4))).T


# -- operators ----------------------------------------------------------------------------


def test_scalars_and_arrays_on_either_side():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([10.0, 20.0])
    for y, want in [(x + 1, [2, 3]), (1 + x, [2, 3]), (x - 1, [0, 1]), (1 - x, [0, -1]),
                    (x * 2, [2, 4]), (2 * x, [2, 4]), (x / 2, [0.5, 1]), (2 / x, [2, 1]),
                    (x ** 2, [1, 4]), (2 ** x, [2, 4]), (a + x, [11, 22]), (a * x, [10, 40]),
                    (a - x, [9, 18]), (a / x, [10, 10])]:
        assert isinstance(y, Tensor) and y.requires_grad
        np.testing.assert_allclose(y.data, want)


def test_numpy_scalars_and_matmul_with_arrays():
    x = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    assert (np.float64(2.0) * x).dtype == np.float32
    assert (x ** np.float64(2.0)).dtype == np.float32
    assert (np.float64(2.0) ** x).dtype == np.float32
    y = np.eye(2) @ x
    assert isinstance(y, Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.ones((2, 2)))


def test_python_conversions():
    assert float(Tensor([2.5])) == 2.5 and int(Tensor(3)) == 3
    assert bool(Tensor(1.0)) and not bool(Tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))


def test_broadcasting_forward():
    a = Tensor(np.ones((3, 1, 4)))
    b = Tensor(np.ones((2, 4)))
    assert (a + b).shape == (3, 2, 4)


def test_reshape_forms_and_error():
    x = Tensor(np.zeros((2, 3, 4)))
    assert x.reshape(6, 4).shape == x.reshape((6, 4)).shape == x.view(-1, 4).shape == (6, 4)
    with pytest.raises(ValueError, match=r"shape \(5, -1\) is invalid for a tensor of shape "
                                         r"\(2, 3, 4\)"):
        x.reshape(5, -1)


def test_sum_mean_dims():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.sum().shape == ()
    assert x.sum(dim=1).shape == (2, 4)
    assert x.mean(dim=(0, 2), keepdim=True).shape == (1, 3, 1)
    np.testing.assert_allclose(x.mean(dim=-1).data, x.data.mean(-1))


# -- error messages -----------------------------------------------------------------------


def test_matmul_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"shapes \(3, 4\) and \(5, 2\).*4 columns.*5 rows"):
        Tensor(np.zeros((3, 4))) @ Tensor(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"batch dims \(2,\) and \(3,\)"):
        Tensor(np.zeros((2, 3, 4))) @ Tensor(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="at least 1 dim"):
        Tensor(2.0) @ Tensor(np.zeros(3))


def test_linear_error_names_features():
    with pytest.raises(ValueError, match=r"input of shape \(2, 5\) has 5 features.*"
                                         r"in_features=3"):
        F.linear(Tensor(np.zeros((2, 5))), Tensor(np.zeros((4, 3))))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\), expected \(4,\)"):
        F.linear(Tensor(np.zeros((2, 3))), Tensor(np.zeros((4, 3))), Tensor(np.zeros(3)))


def test_cross_entropy_errors():
    x = Tensor(np.zeros((4, 3)))
    with pytest.raises(TypeError, match=r"expects class indices of integer dtype, shape "
                                        r"\(N,\); got target of dtype float"):
        F.cross_entropy(x, np.zeros(4))
    with pytest.raises(TypeError, match="integer dtype"):
        F.cross_entropy(x, np.zeros((4, 3), np.int64))
    with pytest.raises(ValueError, match=r"input of shape \(N, C\)"):
        F.cross_entropy(Tensor(np.zeros(3)), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="N=4.*2 class indices"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(IndexError, match="target class 3 is out of range for C=3"):
        F.cross_entropy(x, np.array([0, 1, 3, 2]))
    with pytest.raises(IndexError, match="target class -1"):
        F.nll_loss(x, np.array([0, -1, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(x, np.array([0, 1, 2, 0]), reduction="avg")


def test_cross_entropy_accepts_tensor_and_list_targets():
    x = Tensor(np.array([[2.0, 0.0], [0.0, 2.0]]))
    a = F.cross_entropy(x, Tensor([0, 1])).item()
    b = F.cross_entropy(x, [0, 1]).item()
    assert a == b == pytest.approx(np.log(1 + np.exp(-2.0)))


def test_cross_entropy_is_stable_for_huge_logits():
    x = Tensor(np.array([[1000.0, 0.0], [0.0, -1000.0]], np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([1, 1]))
    assert loss.item() == pytest.approx(1000.0 / 2 * 2, rel=1e-6)
    loss.backward()
    assert np.isfinite(x.grad).all()


def test_mse_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"input shape \(4, 1\) and target shape \(4,\)"):
        F.mse_loss(Tensor(np.zeros((4, 1))), Tensor(np.zeros(4)))


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        y = F.sigmoid(Tensor(np.array([-1000.0, 0.0, 1000.0], np.float32)))
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])


# -- tensor ops: indexing, joining, shapes, comparisons, dtypes ---------------------------

import playground.engine as E  # noqa: E402


def test_basic_indexing_is_a_view_and_advanced_a_copy():
    x = Tensor(np.arange(12.0).reshape(3, 4))
    assert np.shares_memory(x[1:, ::2].data, x.data)
    assert np.shares_memory(x[..., None, 0].data, x.data)
    assert not np.shares_memory(x[[0, 2]].data, x.data)
    assert not np.shares_memory(x[x > 5].data, x.data)
    np.testing.assert_array_equal(x[Tensor([2, 0])].data, x.data[[2, 0]])
    np.testing.assert_array_equal(x[np.int64(1), 2].data, 6.0)
    with pytest.raises(IndexError):
        x[3]


def test_iterating_yields_rows_with_gradient():
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and rows[1].shape == (2,)
    (rows[0] * 1 + rows[2] * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 1], [0, 0], [3, 3]])
    with pytest.raises(TypeError, match="0-d"):
        iter(Tensor(1.0))


def test_comparisons_are_bool_masks_without_grad():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    for m in (x > 0, 0 < x, x >= 1, x <= np.array([0.0, 0.0, 5.0]), x == 3, x != x):
        assert m.dtype == np.bool_ and not m.requires_grad and m.grad_fn is None
    np.testing.assert_array_equal((x > 0).data, [True, False, True])
    np.testing.assert_array_equal((0 < x).data, [True, False, True])
    np.testing.assert_array_equal(x.eq(Tensor([1.0, 0.0, 3.0])).data, [True, False, True])
    assert (x == None) is False  # noqa: E711 - falls back to identity, as torch
    assert (Tensor(2.0) > 1).shape == () and bool(Tensor(2.0) > 1)


def test_tensors_still_hash_by_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b, a}) == 2


def test_cat_stack_errors_name_the_shapes():
    a, b = Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 4)))
    assert E.cat([a, b], dim=1).shape == (2, 7) and E.concat((a, b), -1).shape == (2, 7)
    with pytest.raises(ValueError, match=r"except in dim 0.*\(2, 3\), \(2, 4\)"):
        E.cat([a, b])
    with pytest.raises(ValueError, match="non-empty"):
        E.cat([])
    with pytest.raises(TypeError, match="list or tuple"):
        E.cat(a)
    with pytest.raises(ValueError, match="zero-dimensional"):
        E.cat([Tensor(1.0), Tensor(2.0)])
    with pytest.raises(ValueError, match="equal size"):
        E.stack([a, b])
    with pytest.raises(IndexError, match=r"range of \[-3, 2\], but got 3"):
        E.stack([a, a], dim=3)
    assert E.stack([a, a], dim=-1).shape == (2, 3, 2)


def test_split_chunk_errors():
    x = Tensor(np.zeros((4, 6)))
    with pytest.raises(ValueError, match="sum to 6"):
        x.split([2, 3], dim=1)
    with pytest.raises(ValueError, match="positive"):
        x.split(0)
    with pytest.raises(ValueError, match="at least 1"):
        x.chunk(0)
    assert [p.shape for p in E.split(x, [1, 0, 3])] == [(1, 6), (0, 6), (3, 6)]


def test_shape_op_errors():
    x = Tensor(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="has 3 dims but 2"):
        x.permute(1, 0)
    with pytest.raises(ValueError, match="repeat"):
        x.permute(0, 0, 1)
    with pytest.raises(ValueError, match="dim 1 has size 3, which can't become 4"):
        x.expand(2, 4, 5)
    with pytest.raises(ValueError, match="-1 only keeps"):
        x.expand(-1, 2, 3, 1)
    with pytest.raises(ValueError, match="at least one per dim"):
        x.expand(3, 1)
    with pytest.raises(IndexError, match="unsqueeze"):
        x.unsqueeze(4)
    with pytest.raises(IndexError, match="squeeze"):
        x.squeeze(3)
    with pytest.raises(ValueError, match="start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)
    assert x.unsqueeze(3).shape == (2, 3, 1, 1) and x.unsqueeze(-1).shape == (2, 3, 1, 1)
    assert x.squeeze().shape == (2, 3) and x.squeeze(0).shape == (2, 3, 1)


def test_pad_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="divisible by 2"):
        E.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="too large"):
        E.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="mode must be"):
        E.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="smaller than the size 3"):
        E.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="needs mode 'constant'"):
        E.pad(x, (-1, 0), mode="replicate")
    with pytest.raises(ValueError, match="negative size"):
        E.pad(x, (-2, -2))
    assert E.pad(x, (-1, 2)).shape == (2, 4)


def test_max_min_clamp_where_errors_and_forms():
    x = Tensor(np.array([[1.0, 5.0], [7.0, 2.0]]))
    with pytest.raises(IndexError, match="max"):
        x.max(dim=2)
    with pytest.raises(ValueError, match="at least one of 'min' or 'max'"):
        x.clamp()
    with pytest.raises(TypeError, match="bool tensor"):
        E.where(Tensor([1.0, 0.0]), x, 0.0)
    with pytest.raises(TypeError, match="requires grad"):
        x.clamp(min=Tensor(0.0, requires_grad=True))
    np.testing.assert_array_equal(x.clamp(min=Tensor(2.0)).data, [[2, 5], [7, 2]])
    values, indices = E.max(x, 1)
    np.testing.assert_array_equal(values.data, [5, 7])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert E.max(x).item() == 7 and E.min(x).item() == 1
    assert "max(values=" in repr(x.max(0)) and "min(values=" in repr(x.min(0))
    np.testing.assert_array_equal(E.where(x > 3, 1.0, 0.0).data, [[0, 1], [1, 0]])


def test_float32_stays_float32_through_the_new_ops():
    x = Tensor(np.array([[1.0, -2.0], [3.0, 0.5]], np.float32), requires_grad=True)
    outs = [x[0], x[[1, 1]], x[x > 0], E.cat([x, x]), E.stack([x, x]), x.split(1)[0],
            x.unsqueeze(0), x.squeeze(), x.permute(1, 0), x.expand(3, 2, 2), x.flatten(),
            E.pad(x, (1, 1), value=2.5), E.pad(x, (1, 1), mode="reflect"), x.max(),
            x.max(0).values, x.abs(), x.abs().sqrt(), x.clamp(0.0, 1.0),
            E.where(x > 0, x, 0.5), E.where(x > 0, 1.0, x), x.clone(), x.t()]
    for y in outs:
        assert y.dtype == np.float32, y
        y.sum().backward()
        assert x.grad.dtype == np.float32


def test_to_and_casts():
    x = Tensor(np.array([1.5, -2.5], np.float32), requires_grad=True)
    assert x.to(np.float32) is x and x.float() is x and x.to("cpu") is x
    d = x.to(np.float64)
    assert d.dtype == np.float64 and d.requires_grad and d.grad_fn is not None
    assert x.to(dtype=E.float64).dtype == np.float64
    assert x.to(Tensor(np.zeros(1))).dtype == np.float64
    n = x.long()
    assert n.dtype == np.int64 and not n.requires_grad
    np.testing.assert_array_equal(n.data, [1, -2])
    assert x.to(E.bool).dtype == np.bool_
    with pytest.raises(ValueError, match="CPU only"):
        x.to("cuda")
    (d * 3).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3, 3])
    c = x.clone()
    assert not np.shares_memory(c.data, x.data) and c.requires_grad


def test_top_level_functions_match_methods():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4) - 10)
    pairs = [(E.flatten(x, 1), x.flatten(1)), (E.unsqueeze(x, 0), x.unsqueeze(0)),
             (E.squeeze(x), x.squeeze()), (E.permute(x, (2, 0, 1)), x.permute(2, 0, 1)),
             (E.transpose(x, 0, 2), x.transpose(0, 2)), (E.reshape(x, (6, 4)), x.reshape(6, 4)),
             (E.abs(x), x.abs()), (E.clamp(x, -1, 1), x.clamp(-1, 1)),
             (E.clip(x, max=0), x.clamp(max=0)), (E.exp(x * 0.1), (x * 0.1).exp()),
             (E.sum(x, 1), x.sum(1)), (E.mean(x), x.mean()), (E.argmax(x, 2), x.argmax(2)),
             (E.argmin(x), x.argmin()), (E.sqrt(x.abs()), x.abs().sqrt()),
             (E.log(x.abs() + 1), (x.abs() + 1).log()),
             (E.matmul(x, x.transpose(1, 2)), x @ x.transpose(1, 2)),
             (E.tanh(x), x.tanh()), (E.relu(x), x.relu()), (E.sigmoid(x), x.sigmoid()),
             (E.softmax(x, 1), x.softmax(1))]
    for a, b in pairs:
        np.testing.assert_array_equal(a.data, b.data)
    assert [p.shape for p in E.chunk(x, 2, dim=2)] == [(2, 3, 2), (2, 3, 2)]
