"""One central-difference gradient check, in float64, over the whole op registry."""

import numpy as np
import pytest

from playground.engine import Function
from playground.engine.testing import OP_CASES, OpCase, gradcheck


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
def test_gradient_matches_central_differences(case):
    gradcheck(case)


def test_registry_covers_every_op():
    names = " ".join(c.name for c in OP_CASES)
    for op in ["add", "sub", "mul", "div", "pow", "neg", "matmul", "sum", "mean", "reshape",
               "view", "transpose", "T", "exp", "log", "relu", "sigmoid", "tanh", "linear",
               "linear_no_bias", "softmax", "log_softmax", "cross_entropy_mean",
               "cross_entropy_sum", "cross_entropy_none", "nll_loss", "mse_loss_mean",
               "mse_loss_none", "scalar_left", "scalar_right", "broadcast_(3,1,4)_(2,4)",
               "batch_of_1", "keepdim", "matmul_batched", "matmul_1d_1d",
               # tensor ops
               "getitem_int", "getitem_slices_step", "getitem_none_ellipsis",
               "getitem_int_array_repeats", "getitem_tensor_index", "getitem_two_arrays",
               "getitem_bool_mask", "getitem_mask_from_comparison", "cat_dim0", "cat_dim-1",
               "stack_dim0", "stack_dim-1", "split_int_uneven", "split_sections",
               "chunk_uneven", "flatten_all", "flatten_neg_dims", "unsqueeze_0",
               "unsqueeze_-1", "squeeze_all", "squeeze_dims_tuple", "permute",
               "permute_tuple_neg", "expand_-1", "expand_new_dims", "expand_as",
               "pad_constant", "pad_constant_negative_crops", "pad_reflect", "pad_replicate",
               "pad_circular", "max_all", "max_dim1", "max_dim-1_keepdim", "min_all",
               "min_dim1", "abs", "sqrt", "clamp_both", "clamp_min", "clamp_max", "clip",
               "where", "where_broadcast", "where_scalar_other", "where_scalar_input",
               "where_method", "t", "clone"]:
        assert op in names, f"no registry case for {op}"


class _WrongSquare(Function):
    """y = x**2 with a deliberately wrong backward (x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        return g * ctx.x


def test_gradcheck_catches_a_wrong_backward():
    case = OpCase("wrong", lambda F, x: _WrongSquare.apply(x),
                  lambda rng: (rng.uniform(0.5, 1.5, (3,)),))
    with pytest.raises(AssertionError, match="wrong"):
        gradcheck(case)


def test_gradcheck_runs_in_float64():
    case = OpCase("f64", lambda F, x: x.exp(), lambda rng: (rng.standard_normal(3),))
    gradcheck(case)  # asserts float64 output and grads itself
    assert np.float64 == case.make_args(np.random.default_rng(0))[0].dtype
