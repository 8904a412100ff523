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
