"""Convolution and pooling: shapes, dtypes, errors, default init and memory layout
(values and gradients are checked by the gradcheck and torch-parity tests)."""

import math

import numpy as np
import pytest

from playground.engine import Tensor, functional as F, manual_seed, nn


def _x(*shape, dtype=np.float32):
    return Tensor(np.random.default_rng(0).standard_normal(shape).astype(dtype))


def test_conv2d_output_shapes_follow_the_formula():
    x = _x(2, 3, 11, 9)
    w = Tensor(np.ones((5, 3, 3, 2), np.float32))
    for kw, want in [({}, (2, 5, 9, 8)), (dict(stride=2, padding=1), (2, 5, 6, 5)),
                     (dict(dilation=2), (2, 5, 7, 7)),
                     (dict(padding="same"), (2, 5, 11, 9)),
                     (dict(padding=(0, 2), stride=(3, 1)), (2, 5, 3, 12))]:
        assert F.conv2d(x, w, **kw).shape == want, kw
    assert F.conv2d(_x(3, 11, 9), w).shape == (5, 9, 8)  # unbatched
    wt = Tensor(np.ones((3, 4, 3, 3), np.float32))
    assert F.conv_transpose2d(x, wt, stride=2, padding=1, output_padding=1).shape == \
        (2, 4, 22, 18)


def test_float32_in_float32_out_and_grads():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    x = Tensor(np.ones((2, 3, 5, 5), np.float32), requires_grad=True)
    y = F.max_pool2d(F.relu(conv(x)), 2)
    y = F.avg_pool2d(y, 2) + F.adaptive_avg_pool2d(y, 1)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == conv.weight.grad.dtype == conv.bias.grad.dtype == np.float32


def test_conv_outputs_are_nchw_views_of_channels_last_memory():
    y = nn.Conv2d(3, 8, 3, padding=1)(_x(2, 3, 5, 5))
    assert y.shape == (2, 8, 5, 5)
    assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous
    z = F.max_pool2d(F.relu(y), 2)  # the layout carries through ReLU and pooling
    assert z.data.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(z.flatten(1).data,
                                  np.ascontiguousarray(z.data).reshape(2, -1))


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(_x(8, 4, 32, 32), _x(16, 3, 3, 3)),
     r"conv2d expects input with 3 channels \(weight is \(16, 3, 3, 3\)\), "
     r"got \(8, 4, 32, 32\)"),
    (lambda: F.conv2d(_x(4, 32, 32), _x(16, 3, 3, 3)),
     r"expects input with 3 channels \(weight is \(16, 3, 3, 3\)\), got \(4, 32, 32\)"),
    (lambda: F.conv2d(_x(8, 8), _x(16, 3, 3, 3)), r"3-D \(C, H, W\) or 4-D"),
    (lambda: F.conv2d(_x(1, 3, 2, 2), _x(4, 3, 3, 3)), r"too small for a \(3, 3\) kernel"),
    (lambda: F.conv2d(_x(1, 3, 5, 5), _x(4, 3, 3, 3), _x(3)),
     r"bias has shape \(3,\), expected \(4,\)"),
    (lambda: F.conv2d(_x(1, 4, 5, 5), _x(3, 2, 3, 3), groups=2),
     r"not divisible by groups"),
    (lambda: F.conv2d(_x(1, 3, 5, 5), _x(4, 3, 3, 3), stride=2, padding="same"),
     r"'same' is not supported for strided"),
    (lambda: F.conv2d(_x(1, 3, 5, 5), _x(4, 3, 3, 3), padding="full"), r"'valid', 'same'"),
    (lambda: F.conv2d(_x(1, 3, 5, 5), _x(4, 3, 3, 3), stride=0), r"stride must be >= 1"),
    (lambda: F.conv_transpose2d(_x(1, 3, 5, 5), _x(4, 2, 3, 3)),
     r"conv_transpose2d expects input with 4 channels"),
    (lambda: F.conv_transpose2d(_x(1, 3, 5, 5), _x(3, 2, 3, 3), stride=2, output_padding=2),
     r"output_padding \(2, 2\) must be smaller"),
    (lambda: F.max_pool2d(_x(1, 1, 5, 5), 2, padding=2), r"at most half of the kernel"),
    (lambda: F.avg_pool2d(_x(1, 1, 2, 2), 3), r"too small for kernel"),
    (lambda: F.adaptive_avg_pool2d(_x(1, 1, 4, 4), (2, 0)), r"must be positive"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2),
     r"in_channels \(3\) must be divisible by groups"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), r"padding_mode must be one of"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), r"padding_mode must be"),
])
def test_errors_say_what_was_expected_and_what_was_got(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_default_init_is_torchs_kaiming_uniform_with_a_sqrt5():
    manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, groups=2)  # fan_in = 16/2 * 3 * 3 = 72
    bound = 1 / math.sqrt(72)
    w, b = conv.weight.data, conv.bias.data
    assert w.shape == (32, 8, 3, 3) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(b).max() <= bound
    # ConvTranspose2d: weight (in, out/groups, kH, kW); fan_in from dim 1, as torch
    convt = nn.ConvTranspose2d(16, 6, (3, 2))
    assert convt.weight.shape == (16, 6, 3, 2)
    bound = 1 / math.sqrt(6 * 3 * 2)
    assert bound * 0.9 < np.abs(convt.weight.data).max() <= bound
    assert np.abs(convt.bias.data).max() <= bound


def test_modules_have_torchs_parameter_names_and_no_buffers():
    assert list(nn.Conv2d(2, 3, 3).state_dict()) == ["weight", "bias"]
    assert list(nn.Conv2d(2, 3, 3, bias=False).state_dict()) == ["weight"]
    assert list(nn.ConvTranspose2d(2, 3, 3).state_dict()) == ["weight", "bias"]
    assert nn.MaxPool2d(2).state_dict() == {}
    assert "kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)" in repr(
        nn.Conv2d(2, 3, 3, 2, 1))


def test_max_pool2d_return_indices_without_grad():
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out.data[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(idx.data[0, 0], [[5, 7], [13, 15]])
