"""Op cases for :mod:`playground.engine.conv`, and the reference expansions of its fused
ops into primitive ops (what the canvas shows when a student opens a conv or a pool).

Gradient-check inputs stay small (central differences evaluate the op twice per input
element). Max-pool inputs are distinct values (a shuffled grid, spacing ~0.01), so no
window has a tie and a 1e-6 step never changes which element is the max.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import conv as C
from .. import ops
from ..testing import ExpansionCase, OpCase, _args, _n
from ..tensor import Tensor

OP_CASES: list = []
EXPANSIONS: list = []


def _case(name: str, fn: Callable[..., Any], *makers: Any) -> None:
    OP_CASES.append(OpCase(name, fn, _args(*makers)))


def _distinct(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Distinct values in [-1, 1): a shuffled evenly spaced grid (no ties for max)."""
    def make(rng):
        n = int(np.prod(shape))
        return (rng.permutation(n) / n * 2 - 1).reshape(shape)
    return make


# -- conv2d --------------------------------------------------------------------------------

_conv = {
    "conv2d": ((2, 2, 5, 7), (3, 2, 3, 3), {}),
    "conv2d_stride2_padding1": ((2, 2, 5, 7), (3, 2, 3, 3), dict(stride=2, padding=1)),
    "conv2d_stride(2,1)_padding(1,2)_dilation2": ((2, 2, 5, 7), (3, 2, 3, 3),
                                                  dict(stride=(2, 1), padding=(1, 2),
                                                       dilation=2)),
    "conv2d_dilation(1,2)_padding1": ((1, 2, 5, 7), (3, 2, 3, 2),
                                      dict(padding=1, dilation=(1, 2))),
    "conv2d_stride3_unused_rows": ((2, 2, 7, 6), (2, 2, 2, 3), dict(stride=3)),
    "conv2d_padding_same_even_kernel": ((1, 2, 5, 6), (3, 2, 2, 4), dict(padding="same")),
    "conv2d_padding_valid_1x1": ((2, 3, 4, 5), (4, 3, 1, 1), dict(padding="valid")),
    "conv2d_groups2": ((1, 4, 5, 5), (4, 2, 3, 3), dict(padding=1, groups=2)),
    "conv2d_groups2_stride2": ((2, 4, 5, 5), (6, 2, 2, 2), dict(stride=2, groups=2)),
    "conv2d_depthwise": ((2, 3, 5, 4), (3, 1, 3, 3), dict(padding=1, groups=3)),
    "conv2d_batch_of_1": ((1, 3, 5, 5), (2, 3, 3, 3), dict(padding=1)),
    "conv2d_one_input_channel": ((3, 1, 6, 5), (4, 1, 3, 3), dict(padding=1)),
}
for _name, (_xs, _ws, _kw) in _conv.items():
    _case(_name, lambda F, x, w, b, kw=_kw: F.conv2d(x, w, b, **kw), _n(*_xs), _n(*_ws),
          _n(_ws[0]))
_case("conv2d_no_bias", lambda F, x, w: F.conv2d(x, w, stride=2, padding=1), _n(2, 2, 5, 7),
      _n(3, 2, 3, 3))
_case("conv2d_unbatched", lambda F, x, w, b: F.conv2d(x, w, b, padding=1), _n(2, 5, 7),
      _n(3, 2, 3, 3), _n(3))

# -- conv_transpose2d ----------------------------------------------------------------------

_convt = {
    "conv_transpose2d": ((2, 3, 3, 4), (3, 2, 3, 3), {}),
    "conv_transpose2d_stride2_padding1_output_padding1": ((2, 3, 3, 4), (3, 2, 3, 3),
                                                          dict(stride=2, padding=1,
                                                               output_padding=1)),
    "conv_transpose2d_stride(2,3)_padding(1,0)": ((1, 2, 3, 3), (2, 3, 2, 3),
                                                  dict(stride=(2, 3), padding=(1, 0))),
    "conv_transpose2d_dilation2_padding2": ((2, 2, 4, 3), (2, 2, 3, 3),
                                            dict(padding=2, dilation=2)),
    "conv_transpose2d_groups2": ((1, 4, 3, 3), (4, 2, 2, 2), dict(stride=2, groups=2)),
    "conv_transpose2d_batch_of_1": ((1, 2, 3, 5), (2, 3, 3, 3), dict(stride=2)),
}
for _name, (_xs, _ws, _kw) in _convt.items():
    _case(_name, lambda F, x, w, b, kw=_kw: F.conv_transpose2d(x, w, b, **kw), _n(*_xs),
          _n(*_ws), _n(_ws[1] * _kw.get("groups", 1)))
_case("conv_transpose2d_no_bias", lambda F, x, w: F.conv_transpose2d(x, w, padding=1),
      _n(2, 2, 4, 5), _n(2, 3, 3, 3))
_case("conv_transpose2d_unbatched", lambda F, x, w: F.conv_transpose2d(x, w, stride=2),
      _n(2, 3, 4), _n(2, 3, 2, 2))

# -- pooling -------------------------------------------------------------------------------

_pools = {
    "max_pool2d_2": (lambda F, x: F.max_pool2d(x, 2), (2, 2, 4, 6)),
    "max_pool2d_2_odd_size": (lambda F, x: F.max_pool2d(x, 2), (2, 2, 5, 7)),
    "max_pool2d_3_stride2_padding1": (lambda F, x: F.max_pool2d(x, 3, 2, 1), (2, 2, 5, 7)),
    "max_pool2d_(2,3)_stride(1,2)": (lambda F, x: F.max_pool2d(x, (2, 3), (1, 2)),
                                     (1, 3, 5, 7)),
    "max_pool2d_dilation2_padding1": (lambda F, x: F.max_pool2d(x, 3, 1, 1, dilation=2),
                                      (1, 2, 6, 7)),
    "max_pool2d_ceil_mode": (lambda F, x: F.max_pool2d(x, 3, 2, ceil_mode=True),
                             (2, 2, 6, 7)),
    "max_pool2d_batch_of_1": (lambda F, x: F.max_pool2d(x, 2, 1), (1, 3, 4, 5)),
    "max_pool2d_unbatched": (lambda F, x: F.max_pool2d(x, 2), (3, 4, 5)),
}
for _name, (_fn, _xs) in _pools.items():
    _case(_name, _fn, _distinct(*_xs))

_avg = {
    "avg_pool2d_2": lambda F, x: F.avg_pool2d(x, 2),
    "avg_pool2d_3_stride2_padding1": lambda F, x: F.avg_pool2d(x, 3, 2, 1),
    "avg_pool2d_3_stride2_padding1_exclude_pad":
        lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    "avg_pool2d_ceil_mode": lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
    "avg_pool2d_ceil_mode_exclude_pad":
        lambda F, x: F.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False),
    "avg_pool2d_(2,3)_stride1_divisor_override":
        lambda F, x: F.avg_pool2d(x, (2, 3), 1, divisor_override=4),
}
for _name, _fn in _avg.items():
    _case(_name, _fn, _n(2, 2, 5, 7))
_case("avg_pool2d_batch_of_1", lambda F, x: F.avg_pool2d(x, 2), _n(1, 3, 4, 4))
_case("avg_pool2d_unbatched", lambda F, x: F.avg_pool2d(x, 3, 2, 1), _n(2, 5, 5))

_case("adaptive_avg_pool2d_(3,4)_overlapping_bins",
      lambda F, x: F.adaptive_avg_pool2d(x, (3, 4)), _n(2, 2, 5, 7))
_case("adaptive_avg_pool2d_1_global", lambda F, x: F.adaptive_avg_pool2d(x, 1),
      _n(2, 3, 4, 5))
_case("adaptive_avg_pool2d_(None,2)", lambda F, x: F.adaptive_avg_pool2d(x, (None, 2)),
      _n(1, 2, 3, 6))
_case("adaptive_avg_pool2d_upsample_unbatched", lambda F, x: F.adaptive_avg_pool2d(x, 4),
      _n(2, 3, 3))


# -- reference expansions ------------------------------------------------------------------


def conv2d_reference(x: Tensor, w: Tensor, b: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """conv2d by its definition: zero-pad, then for each output position take the
    (kH, kW) window (taps ``dilation`` apart), multiply it by every kernel and sum over
    channels and taps; stack the positions. Shapes as ``functional.conv2d`` (batched)."""
    sh, sw = C._pair(stride, "stride", "", 1)
    dh, dw = C._pair(dilation, "dilation", "", 1)
    kh, kw = w.shape[2:]
    top, bottom, left, right = C._conv_padding(padding, kh, kw, (sh, sw), (dh, dw), "")
    xp = ops.pad(x, (left, right, top, bottom))
    out_h = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    cin, cout = w.shape[1], w.shape[0] // groups
    outs = []
    for gi in range(groups):
        xg = xp[:, gi * cin:(gi + 1) * cin]
        wg = w[gi * cout:(gi + 1) * cout].unsqueeze(0)  # (1, C_out, C_in, kH, kW)
        rows = []
        for i in range(out_h):
            row = []
            for j in range(out_w):
                window = xg[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                            j * sw:j * sw + dw * (kw - 1) + 1:dw]  # (N, C_in, kH, kW)
                row.append((window.unsqueeze(1) * wg).sum(dim=(2, 3, 4)))  # (N, C_out)
            rows.append(ops.stack(row, dim=-1))  # (N, C_out, W_out)
        outs.append(ops.stack(rows, dim=-2))  # (N, C_out, H_out, W_out)
    y = outs[0] if groups == 1 else ops.cat(outs, dim=1)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def conv_transpose2d_reference(x: Tensor, w: Tensor, b: Tensor | None = None,
                               stride: Any = 1, padding: Any = 0, output_padding: Any = 0
                               ) -> Tensor:
    """conv_transpose2d by its definition: each input pixel x[n, :, i, j] stamps the
    kernel, weighted by its channels (x[n, :, i, j] @ W), at (i s, j s) of a zero
    canvas; the stamps add up; ``padding`` rows/cols are then cropped from each side.
    (dilation 1, groups 1.)"""
    (sh, sw) = C._pair(stride, "stride", "", 1)
    ph, pw = C._pair(padding, "padding", "", 0)
    oph, opw = C._pair(output_padding, "output_padding", "", 0)
    n, cin, h, wd = x.shape
    cout, kh, kw = w.shape[1:]
    full_h, full_w = (h - 1) * sh + kh + oph, (wd - 1) * sw + kw + opw
    kernel = w.reshape(cin, -1)  # (C_in, C_out*kH*kW)
    total = None
    for i in range(h):
        for j in range(wd):
            stamp = (x[:, :, i, j] @ kernel).reshape(n, cout, kh, kw)
            placed = ops.pad(stamp, (j * sw, full_w - j * sw - kw,
                                     i * sh, full_h - i * sh - kh))
            total = placed if total is None else total + placed
    y = total[:, :, ph:full_h - ph, pw:full_w - pw]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def max_pool2d_reference(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0
                         ) -> Tensor:
    """max_pool2d by its definition: pad with -inf; each output is the max of its
    window (flattened, ``max(dim=-1)``)."""
    (kh, kw), (sh, sw), (ph, pw), _ = C._pool_args("", kernel_size, stride, padding)
    xp = ops.pad(x, (pw, pw, ph, ph), value=-np.inf)
    out_h, out_w = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    rows = [ops.stack([xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].flatten(2)
                       .max(dim=-1).values for j in range(out_w)], dim=-1)
            for i in range(out_h)]
    return ops.stack(rows, dim=-2)


def avg_pool2d_reference(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0
                         ) -> Tensor:
    """avg_pool2d by its definition (count_include_pad): zero-pad; each output is the
    mean of its window."""
    (kh, kw), (sh, sw), (ph, pw), _ = C._pool_args("", kernel_size, stride, padding)
    xp = ops.pad(x, (pw, pw, ph, ph))
    out_h, out_w = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    rows = [ops.stack([xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].mean(dim=(2, 3))
                       for j in range(out_w)], dim=-1) for i in range(out_h)]
    return ops.stack(rows, dim=-2)


def adaptive_avg_pool2d_reference(x: Tensor, output_size: tuple) -> Tensor:
    """adaptive_avg_pool2d by its definition: output (i, j) is the mean of rows
    floor(i H / H_out) .. ceil((i + 1) H / H_out) - 1 and the like columns."""
    h, w = x.shape[-2:]
    oh, ow = output_size

    def bins(size, out):
        return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]

    rows = [ops.stack([x[..., h0:h1, w0:w1].mean(dim=(-2, -1)) for w0, w1 in bins(w, ow)],
                      dim=-1) for h0, h1 in bins(h, oh)]
    return ops.stack(rows, dim=-2)


def _expansion(name: str, fused: Callable[..., Any], reference: Callable[..., Any],
               *makers: Any) -> None:
    EXPANSIONS.append(ExpansionCase(name, fused, reference, _args(*makers)))


_expansion("conv2d", lambda x, w, b: C.conv2d(x, w, b, padding=1),
           lambda x, w, b: conv2d_reference(x, w, b, padding=1),
           _n(2, 2, 5, 7), _n(3, 2, 3, 3), _n(3))
_expansion("conv2d_stride2_dilation2_groups2",
           lambda x, w: C.conv2d(x, w, stride=2, padding=(2, 1), dilation=2, groups=2),
           lambda x, w: conv2d_reference(x, w, stride=2, padding=(2, 1), dilation=2,
                                         groups=2),
           _n(1, 4, 6, 7), _n(4, 2, 3, 3))
_expansion("conv2d_padding_same",
           lambda x, w, b: C.conv2d(x, w, b, padding="same"),
           lambda x, w, b: conv2d_reference(x, w, b, padding="same"),
           _n(2, 2, 4, 5), _n(2, 2, 2, 3), _n(2))
_expansion("conv_transpose2d_stride2_padding1_output_padding1",
           lambda x, w, b: C.conv_transpose2d(x, w, b, stride=2, padding=1,
                                              output_padding=1),
           lambda x, w, b: conv_transpose2d_reference(x, w, b, 2, 1, 1),
           _n(2, 3, 3, 4), _n(3, 2, 3, 3), _n(2))
_expansion("conv_transpose2d",
           lambda x, w: C.conv_transpose2d(x, w),
           lambda x, w: conv_transpose2d_reference(x, w),
           _n(1, 2, 3, 3), _n(2, 3, 2, 3))
_expansion("max_pool2d_3_stride2_padding1", lambda x: C.max_pool2d(x, 3, 2, 1),
           lambda x: max_pool2d_reference(x, 3, 2, 1), _distinct(2, 2, 5, 7))
_expansion("max_pool2d_2", lambda x: C.max_pool2d(x, 2),
           lambda x: max_pool2d_reference(x, 2), _distinct(2, 3, 4, 6))
_expansion("avg_pool2d_3_stride2_padding1", lambda x: C.avg_pool2d(x, 3, 2, 1),
           lambda x: avg_pool2d_reference(x, 3, 2, 1), _n(2, 2, 5, 7))
_expansion("adaptive_avg_pool2d_(3,4)", lambda x: C.adaptive_avg_pool2d(x, (3, 4)),
           lambda x: adaptive_avg_pool2d_reference(x, (3, 4)), _n(2, 2, 5, 7))
