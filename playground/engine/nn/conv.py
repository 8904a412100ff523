"""nn modules: Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.

Shapes: N batch, C channels, H/W height and width. Parameter names, shapes and default
initialisation match PyTorch, so state dicts transfer both ways.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import conv as C
from .. import init, ops
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _dtype(dtype: Any, cls: str) -> np.dtype:
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{cls} supports dtype float32 or float64, got {dtype}")
    return dtype


def _positive(name: str, value: Any, cls: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{cls}: {name} must be a positive integer, got {value!r}")
    return int(value)


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: checks, parameters, init and repr."""

    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int, bias: bool, padding_mode: str,
                 output_padding: Any = 0, dtype: Any = None):
        super().__init__()
        cls = type(self).__name__
        in_channels = _positive("in_channels", in_channels, cls)
        out_channels = _positive("out_channels", out_channels, cls)
        groups = _positive("groups", groups, cls)
        if in_channels % groups:
            raise ValueError(f"{cls}: in_channels ({in_channels}) must be divisible by "
                             f"groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{cls}: out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        modes = ("zeros",) if self._transposed else _PADDING_MODES
        if padding_mode not in modes:
            raise ValueError(f"{cls}: padding_mode must be one of {modes}, got "
                             f"{padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = C._pair(kernel_size, "kernel_size", cls, 1)
        self.stride = C._pair(stride, "stride", cls, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{cls}: padding must be 'same', 'valid', an int or a "
                                 f"pair, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{cls}: padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            self.padding = padding
        else:
            self.padding = C._pair(padding, "padding", cls, 0)
        self.dilation = C._pair(dilation, "dilation", cls, 1)
        self.output_padding = C._pair(output_padding, "output_padding", cls, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        dtype = _dtype(dtype, cls)
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default init: weight by ``kaiming_uniform_(a=sqrt(5))``, i.e.
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        with fan_in = weight.shape[1] * kH * kW (for ConvTranspose2d that is
        out_channels/groups * kH * kW, as PyTorch computes it)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer: ``functional.conv2d`` with learnable weight and bias.

    input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
    H_out = floor((H + 2 padding - dilation (kH - 1) - 1) / stride) + 1.

    Parameters (PyTorch layout): ``weight`` (out_channels, in_channels/groups, kH, kW),
    ``bias`` (out_channels,) or None. Default init as PyTorch (see
    :meth:`reset_parameters`).

    Args:
        padding: int, pair, 'valid' or 'same' (stride 1 only).
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular' (the input
            is padded by ``functional.pad`` in that mode, then convolved).
        dtype: float32 (default) or float64.

    Raises:
        ValueError: channels not divisible by groups, a bad size argument, an unsupported
            padding_mode or dtype.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", dtype: Any = None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode == "zeros":
            return C.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)
        # as PyTorch: pad by the mode first, then convolve without padding
        top, bottom, left, right = C._conv_padding(self.padding, *self.kernel_size,
                                                   self.stride, self.dilation, "Conv2d")
        padded = ops.pad(input, (left, right, top, bottom), mode=self.padding_mode)
        return C.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution layer: ``functional.conv_transpose2d`` with learnable
    weight and bias; upsamples.

    input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out),
    H_out = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1.

    Parameters (PyTorch layout): ``weight`` (in_channels, out_channels/groups, kH, kW),
    ``bias`` (out_channels,) or None. Default init as PyTorch (fan_in from weight dim 1).

    Args:
        output_padding: int or pair, smaller than stride or dilation.
        padding_mode: only 'zeros'.
        dtype: float32 (default) or float64.

    Raises:
        ValueError: channels not divisible by groups, a bad size argument, an unsupported
            padding_mode or dtype.
    """

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                 groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", dtype: Any = None):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        """``output_size`` (H_out, W_out), optionally with leading N, C, picks the
        output_padding that gives that size, as PyTorch.

        Raises:
            ValueError: output_size is not reachable with this stride.
        """
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding(input, output_size)
        return C.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, int]:
        size = tuple(int(v) for v in output_size)[-2:]
        pads = []
        for i in range(2):
            lo = C._transposed_out(input.shape[-2 + i], self.kernel_size[i], self.stride[i],
                                   self.padding[i], 0, self.dilation[i])
            hi = lo + self.stride[i] - 1
            if not lo <= size[i] <= hi:
                raise ValueError(f"ConvTranspose2d: requested an output size of {size}, "
                                 f"but valid sizes for input {tuple(input.shape)} range "
                                 f"from {lo} to {hi} along dim {i}")
            pads.append(size[i] - lo)
        return tuple(pads)


class MaxPool2d(Module):
    """Max pooling: ``functional.max_pool2d`` as a layer (no parameters).

    input (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out),
    H_out = floor((H + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1;
    stride defaults to kernel_size.
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        C._pool_args("MaxPool2d", kernel_size, self.stride, padding, dilation)

    def forward(self, input: Tensor):
        return C.max_pool2d(input, self.kernel_size, self.stride, self.padding,
                            self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average pooling: ``functional.avg_pool2d`` as a layer (no parameters).

    input (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out),
    H_out = floor((H + 2 padding - kernel_size) / stride) + 1; stride defaults to
    kernel_size.
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        C._pool_args("AvgPool2d", kernel_size, self.stride, padding)

    def forward(self, input: Tensor) -> Tensor:
        return C.avg_pool2d(input, self.kernel_size, self.stride, self.padding,
                            self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class AdaptiveAvgPool2d(Module):
    """Adaptive average pooling to a fixed output size (no parameters).

    input (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) for any H, W;
    ``output_size`` is an int or a pair (None keeps that input dim).
    """

    def __init__(self, output_size: Any):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return C.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
