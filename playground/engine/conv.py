"""Functional ops, convolution and pooling: conv2d, conv_transpose2d, max_pool2d,
avg_pool2d, adaptive_avg_pool2d.

Shapes: N batch, C channels (C_in, C_out), H/W height and width, kH/kW kernel size,
H_out/W_out output size. Inputs are (N, C, H, W) or, unbatched, (C, H, W), as in PyTorch.

How the convolutions are computed (fused, each with a hand-derived backward):

* Internally the spatial ops work on channels-last views (N, H, W, C) of the arrays; the
  outputs are returned as (N, C, H, W) *views* of channels-last memory, so a chain of
  convs, ReLUs and pools never transposes. Values, shapes and indexing are exactly
  PyTorch's; only the strides differ.
* conv2d is im2col + one GEMM: the (kH, kW) windows of the padded input are a strided
  view (``as_strided``, no index arrays), copied once into cols (N*H_out*W_out,
  kH*kW*C_in + 1) and multiplied by the weight as a (kH*kW*C_in + 1, C_out) matrix whose
  last row is the bias (so the bias costs no extra pass). Per group with ``groups > 1``.
* Backward: g^T cols = [dW | db] in one GEMM, and dx either as the "full" correlation of
  g with the flipped kernel (stride 1: im2col along W only, one GEMM, kH shifted adds)
  or, for stride > 1, by col2im: dcols = g W, added back into the padded input one kernel
  offset at a time (kH*kW strided adds, no ``np.add.at``).
* conv_transpose2d is the adjoint of conv2d: its forward is conv2d's dx computation and
  its backward uses conv2d's forward (dx) and weight gradient, with the roles of the
  channel dims swapped.
* Large scratch arrays come from np.empty (with explicit zeroing where needed), never
  np.zeros: calloc'd fresh pages cost a page fault each, more than the fill.

Sources: Chellapilla, Puri & Simard (2006), "High Performance Convolutional Neural
Networks for Document Processing" (im2col); Dumoulin & Visin (2016), "A guide to
convolution arithmetic for deep learning" (output sizes, transposed convolution).

Re-exported by :mod:`playground.engine.functional`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .tensor import Function, Tensor

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


# ----------------------------------------------------------------------------- arguments


def _pair(value: Any, name: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a (height, width) pair, each >= minimum."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) in (1, 2)
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                  for v in value)):
        pair = (int(value[0]), int(value[-1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return pair


def _batched(x: np.ndarray, op: str, what: str = "input") -> tuple[np.ndarray, bool]:
    """(x as 4-D, whether a batch dim was added to an unbatched (C, H, W) input)."""
    if x.ndim == 4:
        return x, False
    if x.ndim == 3:
        return x[None], True
    raise ValueError(f"{op} expects a 3-D (C, H, W) or 4-D (N, C, H, W) {what}, got shape "
                     f"{x.shape}")


def _out_size(size: int, k: int, s: int, p0: int, p1: int, d: int) -> int:
    """floor((size + p0 + p1 - d (k - 1) - 1) / s) + 1: positions a window of k taps,
    dilation d, fits at with stride s over the padded size (Dumoulin & Visin,
    relation 15)."""
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


# ----------------------------------------------------------------------------- layouts


def _nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> a (N, H, W, C) view."""
    return x.transpose(0, 2, 3, 1)


def _nchw(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> a (N, C, H, W) view."""
    return x.transpose(0, 3, 1, 2)


def _is_channels_last(x: np.ndarray) -> bool:
    """Whether an (N, C, H, W) array's channel dim is its fastest-varying one."""
    return x.shape[1] > 1 and x.strides[1] < x.strides[3]


def _zeros(shape: tuple, dtype: Any) -> np.ndarray:
    """np.zeros, but from malloc'd memory: np.zeros of a large array is calloc'd from
    fresh pages, and their page faults cost more than the fill (10x, measured)."""
    out = np.empty(shape, dtype)
    out.fill(0)
    return out


def _new_like_layout(channels_last: bool, shape: tuple, dtype: Any,
                     make: Any = _zeros) -> np.ndarray:
    """A new (N, C, H, W) array made by ``make`` (_zeros or np.empty), stored
    channels-last if asked."""
    if channels_last:
        n, c, h, w = shape
        return _nchw(make((n, h, w, c), dtype))
    return make(shape, dtype)


def _match_layout(x: np.ndarray, channels_last: bool) -> np.ndarray:
    """x (N, C, H, W) stored channels-last or not, as asked (a copy only if needed):
    elementwise ops on operands of different layouts are several times slower."""
    if channels_last and not _is_channels_last(x):
        return _nchw(np.ascontiguousarray(_nhwc(x)))
    if not channels_last and _is_channels_last(x):
        return np.ascontiguousarray(x)
    return x


def _pad_nhwc(xh: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Zero-pad an (N, H, W, C) array spatially; a negative amount crops instead.
    Returns xh itself when nothing changes."""
    if top == bottom == left == right == 0:
        return xh
    if min(top, bottom, left, right) < 0:
        h, w = xh.shape[1:3]
        xh = xh[:, max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
        top, bottom, left, right = (max(v, 0) for v in (top, bottom, left, right))
        if top == bottom == left == right == 0:
            return xh
    n, h, w, c = xh.shape
    xp = np.empty((n, h + top + bottom, w + left + right, c), xh.dtype)
    xp[:, :top] = 0  # zero only the border
    xp[:, top + h:] = 0
    xp[:, top:top + h, :left] = 0
    xp[:, top:top + h, left + w:] = 0
    xp[:, top:top + h, left:left + w] = xh
    return xp


def _im2col(xp: np.ndarray, kh: int, kw: int, stride: tuple, dilation: tuple,
            out_h: int, out_w: int, ones: bool = False) -> np.ndarray:
    """Windows of a padded (N, H, W, C) array as cols (N*out_h*out_w, kh*kw*C), column
    order (kh, kw, C), plus a last column of ones if asked (so that a bias row in the
    weight matrix adds the bias inside the GEMM, and dW's last column is db).

    C > 1: one strided view of the windows, one copy (xp must have C contiguous).
    C = 1: tap-major, one slice copy per kernel offset into a (kh*kw, M) buffer,
    returned transposed (runs of 1 element make the windowed copy slow).
    """
    n, _, _, c = xp.shape
    (sh, sw), (dh, dw) = stride, dilation
    k, m = kh * kw * c, n * out_h * out_w
    if c == 1:
        buf = np.empty((k + ones, n, out_h, out_w), xp.dtype)
        if ones:
            buf[k] = 1
        x3 = xp[..., 0]
        hspan, wspan = sh * (out_h - 1) + 1, sw * (out_w - 1) + 1
        for i in range(kh):
            for j in range(kw):
                buf[i * kw + j] = x3[:, i * dh:i * dh + hspan:sh, j * dw:j * dw + wspan:sw]
        return buf.reshape(k + ones, m).T
    s0, s1, s2, s3 = xp.strides
    view = as_strided(xp, (n, out_h, out_w, kh, kw, c),
                      (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)
    if not ones:
        return view.reshape(m, k)
    buf = np.empty((m, k + 1), xp.dtype)
    buf[:, k] = 1
    np.copyto(np.reshape(buf[:, :k], view.shape, copy=False), view)
    return buf


def _col2im(dcols: np.ndarray, padded_hw: tuple, stride: tuple, dilation: tuple
            ) -> np.ndarray:
    """Adjoint of :func:`_im2col`: add dcols (N, out_h, out_w, kh, kw, C) back into a
    zero (N, H_pad, W_pad, C) array, one kernel offset at a time."""
    n, out_h, out_w, kh, kw, c = dcols.shape
    dxp = _zeros((n, padded_hw[0], padded_hw[1], c), dcols.dtype)
    (sh, sw), (dh, dw) = stride, dilation
    hspan, wspan = sh * (out_h - 1) + 1, sw * (out_w - 1) + 1
    for i in range(kh):
        for j in range(kw):
            dxp[:, i * dh:i * dh + hspan:sh,
                j * dw:j * dw + wspan:sw] += dcols[:, :, :, i, j]
    return dxp


def _weight_cols(w: np.ndarray) -> np.ndarray:
    """Conv weight (C_out, C_in, kh, kw) as the (kh*kw*C_in, C_out) matrix that
    multiplies :func:`_im2col`'s cols."""
    return w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])


def _full_corr(xh: np.ndarray, w: np.ndarray, pads: tuple, dilation: tuple
               ) -> np.ndarray:
    """Stride-1 correlation of an (N, H, W, A) array, padded by ``pads`` (negative
    values crop), with the spatially flipped weight (A, B, kh, kw) -> (N, H', W', B).

    This is conv2d's dx (A = C_out, B = C_in) and conv_transpose2d's output
    (A = C_in, B = C_out). Computed "row-split": im2col along W only, over the real
    rows (cols (N*H*W', kw*A)), one GEMM with the kernel as a (kw*A, kh*B) matrix, then
    kh row-shifted adds; the zero rows of the H padding are never built or multiplied.
    For 3x3 kernels that copies a third of what a full im2col would and is measured
    ~20% faster.
    """
    kh, kw = w.shape[2:]
    dh, dw = dilation
    top, bottom, left, right = pads
    if top < 0 or bottom < 0:  # crop rows no output reaches
        xh = xh[:, max(-top, 0):xh.shape[1] - max(-bottom, 0)]
        top, bottom = max(top, 0), max(bottom, 0)
    xp = _c_contiguous(_pad_nhwc(xh, 0, 0, left, right))
    n, h, wp, a = xp.shape
    out_h, out_w = h + top + bottom - dh * (kh - 1), wp - dw * (kw - 1)
    s0, s1, s2, s3 = xp.strides
    cols = as_strided(xp, (n, h, out_w, kw, a), (s0, s1, s2, s2 * dw, s3),
                      writeable=False).reshape(n * h * out_w, kw * a)
    wmat = w[:, :, ::-1, ::-1].transpose(3, 0, 2, 1).reshape(kw * a, -1)
    z = (cols @ wmat).reshape(n, h, out_w, kh, -1)
    # out[:, r] = sum_i z[:, r + i dh - top, :, i], over the real rows z has
    spans = []
    for i in range(kh):
        lo, hi = max(0, top - i * dh), min(out_h, top + h - i * dh)
        if hi > lo:
            spans.append((lo, hi, i))
    lo_in, hi_in = max(lo for lo, _, _ in spans), min(hi for _, hi, _ in spans)
    if kh > 1 and len(spans) == kh and hi_in - lo_in >= (out_h + 1) // 2:
        return _shifted_sum(z, spans, lo_in, hi_in, out_h, top, dh)
    spans.sort(key=lambda s: s[1] - s[0] != out_h)  # taps covering every row first
    parts = [(lo, hi, z[:, lo + i * dh - top:hi + i * dh - top, :, i])
             for lo, hi, i in spans]
    full = sum(hi - lo == out_h for lo, hi, _ in parts)
    if full >= 2:
        out = np.add(parts[0][2], parts[1][2])
        parts = parts[2:]
    elif full == 1 and len(parts) > 1:
        # full + first partial in one pass (each pass here runs over rows of only B
        # contiguous values, so passes are what costs), the other rows copied
        whole, (lo, hi, part) = parts[0][2], parts[1]
        out = np.empty(whole.shape, whole.dtype)
        np.add(whole[:, lo:hi], part, out=out[:, lo:hi])
        out[:, :lo] = whole[:, :lo]
        out[:, hi:] = whole[:, hi:]
        parts = parts[2:]
    elif full == 1:
        out = parts.pop(0)[2].copy()
    else:
        out = _zeros((n, out_h, out_w, z.shape[4]), z.dtype)
    for lo, hi, part in parts:
        out[:, lo:hi] += part
    return out


def _shifted_sum(z: np.ndarray, spans: list, lo_in: int, hi_in: int, out_h: int,
                 top: int, dh: int) -> np.ndarray:
    """out[:, r] = sum_i z[:, r + i dh - top, :, i] for z (N, H, W', kh, B), every tap
    i reaching rows spans[i] = (lo, hi, i) of out. The rows [lo_in, hi_in) that every tap
    reaches are one reduction over the tap axis of a strided view of z (one pass, where
    kh shifted adds would each run over rows of only B contiguous values: measured ~35%
    faster for B = 16); the few edge rows are added tap by tap."""
    n, _, out_w, kh, b = z.shape
    out = np.empty((n, out_h, out_w, b), z.dtype)
    s0, s1, s2, s3, s4 = z.strides
    taps = as_strided(z[:, lo_in - top:, :, 0], (n, hi_in - lo_in, out_w, kh, b),
                      (s0, s1, s2, s1 * dh + s3, s4), writeable=False)
    np.add.reduce(taps, axis=3, out=out[:, lo_in:hi_in])
    for a, e in ((0, lo_in), (hi_in, out_h)):  # edge rows
        if e <= a:
            continue
        edge = out[:, a:e]
        edge.fill(0)
        for lo, hi, i in spans:
            lo, hi = max(lo, a), min(hi, e)
            if hi > lo:
                edge[:, lo - a:hi - a] += z[:, lo + i * dh - top:hi + i * dh - top, :, i]
    return out


def _sum_rows(a: np.ndarray) -> np.ndarray:
    """a (M, K) summed over M, as a GEMV with ones (an order of magnitude faster than
    a.sum(axis=0) for M >> K)."""
    return np.ones(a.shape[0], a.dtype) @ a


def _gram(g2: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """g2^T cols, (C_out, K) from g2 (M, C_out) and cols (M, K). Computed as
    (cols^T g2)^T when cols is Fortran-ordered (the C_in = 1 im2col): OpenBLAS is about
    twice as fast that way round for such skinny operands (measured)."""
    if cols.flags.f_contiguous and not cols.flags.c_contiguous:
        return (cols.T @ g2).T
    return g2.T @ cols


def _c_contiguous(xh: np.ndarray) -> np.ndarray:
    """xh (N, H, W, C) with C the fastest-varying dim (copied to channels-last if not)."""
    if xh.shape[3] > 1 and xh.strides[3] != xh.itemsize:
        return np.ascontiguousarray(xh)
    return xh


def _conv_nhwc(xh: np.ndarray, w: np.ndarray, bias: np.ndarray | None, stride: tuple,
               pads: tuple, dilation: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, C) correlated with the weight (C_out, C, kh, kw), plus bias ->
    ((N, H_out, W_out, C_out) output, the cols used, with a ones column if biased)."""
    n, h, wd, _ = xh.shape
    kh, kw = w.shape[2:]
    out_h = _out_size(h, kh, stride[0], pads[0], pads[1], dilation[0])
    out_w = _out_size(wd, kw, stride[1], pads[2], pads[3], dilation[1])
    xp = _c_contiguous(_pad_nhwc(xh, *pads))
    cols = _im2col(xp, kh, kw, stride, dilation, out_h, out_w, ones=bias is not None)
    wcols = _weight_cols(w)
    if bias is not None:
        wcols = np.concatenate([wcols, bias[None].astype(wcols.dtype, copy=False)])
    return (cols @ wcols).reshape(n, out_h, out_w, -1), cols


def _full_corr_pads(kh: int, kw: int, dilation: tuple, pads: tuple, extra: tuple = (0, 0)
                    ) -> tuple:
    """Padding for the stride-1 'full' correlation that inverts a conv's padding: d(k-1)
    minus the conv's padding on each side (negative values crop), plus ``extra`` at the
    bottom/right (conv_transpose2d's output_padding)."""
    eh, ew = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    return (eh - pads[0], eh - pads[1] + extra[0], ew - pads[2], ew - pads[3] + extra[1])


def _group_slices(c: int, groups: int) -> list[slice]:
    k = c // groups
    return [slice(i * k, (i + 1) * k) for i in range(groups)]


# ----------------------------------------------------------------------------- conv2d


def _check_conv(op: str, x: np.ndarray, w: np.ndarray, b: Any, groups: int,
                transposed: bool, shown: tuple) -> None:
    """Check shapes; ``shown`` is the input's shape as the caller gave it."""
    if w.ndim != 4:
        layout = ("(C_in, C_out/groups, kH, kW)" if transposed
                  else "(C_out, C_in/groups, kH, kW)")
        raise ValueError(f"{op} expects a 4-D weight {layout}, got shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    c_in = x.shape[-3]
    if transposed:
        want, c_out = w.shape[0], w.shape[1] * groups
    else:
        want, c_out = w.shape[1] * groups, w.shape[0]
        if w.shape[0] % groups:
            raise ValueError(f"{op}: out_channels {w.shape[0]} (weight {w.shape}) is not "
                             f"divisible by groups={groups}")
    if c_in != want:
        raise ValueError(f"{op} expects input with {want} channels (weight is {w.shape}"
                         f"{f', groups={groups}' if groups > 1 else ''}), got {shown}")
    if transposed and c_in % groups:
        raise ValueError(f"{op}: in_channels {c_in} is not divisible by groups={groups}")
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"{op}: bias has shape {b.shape}, expected ({c_out},) for weight "
                         f"{w.shape}")


def _conv_padding(padding: Any, kh: int, kw: int, stride: tuple, dilation: tuple,
                  op: str) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair, got "
                         f"{padding!r}")
    ph, pw = _pair(padding, "padding", op, 0)
    return (ph, ph, pw, pw)


class Conv2d(Function):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] x_pad[n, g(o) c, i s_h + u d_h,
    j s_w + v d_w]; computed as cols (N*H_out*W_out, kH*kW*C_in/groups) times the weight
    as a (kH*kW*C_in/groups, C_out/groups) matrix, per group.

    Shapes: x (N, C_in, H, W) or (C_in, H, W); w (C_out, C_in/groups, kH, kW); b (C_out,)
    or None -> y (N, C_out, H_out, W_out),
    H_out = floor((H + 2 p - d (kH - 1) - 1) / s) + 1.

    Backward: db = sum over N, H_out, W_out of g; dW = g^T cols; dx by the stride-1 full
    correlation of g with the flipped kernel, or by col2im for stride > 1.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        op = "conv2d"
        x4, unbatched = _batched(x, op)
        _check_conv(op, x4, weight, bias, groups, transposed=False, shown=x.shape)
        kh, kw = weight.shape[2:]
        stride = _pair(stride, "stride", op, 1)
        dilation = _pair(dilation, "dilation", op, 1)
        pads = _conv_padding(padding, kh, kw, stride, dilation, op)
        n, _, h, w = x4.shape
        out_h = _out_size(h, kh, stride[0], pads[0], pads[1], dilation[0])
        out_w = _out_size(w, kw, stride[1], pads[2], pads[3], dilation[1])
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"{op}: input of spatial size ({h}, {w}) with padding {pads[::2]} is too "
                f"small for a ({kh}, {kw}) kernel with dilation {dilation}: the output "
                f"would be ({out_h}, {out_w})")
        xh = _nhwc(x4)
        if groups == 1:
            y, cols = _conv_nhwc(xh, weight, bias, stride, pads, dilation)
            cols = (cols,)
        else:
            outs, cols = [], []
            for ci, co in zip(_group_slices(xh.shape[3], groups),
                              _group_slices(weight.shape[0], groups)):
                y_g, c_g = _conv_nhwc(xh[..., ci], weight[co],
                                      None if bias is None else bias[co], stride, pads,
                                      dilation)
                outs.append(y_g)
                cols.append(c_g)
            y = np.concatenate(outs, axis=3)
        ctx.save(cols=cols, weight=weight, x_shape=x4.shape, stride=stride, pads=pads,
                 dilation=dilation, groups=groups, unbatched=unbatched)
        y = _nchw(y)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, g):
        need_x, need_w, need_b = (ctx.needs_input_grad + (False,))[:3]
        w, groups = ctx.weight, ctx.groups
        if ctx.unbatched:
            g = g[None]
        gh = _nhwc(_match_layout(g, True))
        c_out = gh.shape[3]
        g2 = gh.reshape(-1, c_out)
        kh, kw = w.shape[2:]
        k = kh * kw * w.shape[1]
        dw = dx = db = None
        if need_w or need_b:
            # with a bias, cols has a last column of ones, so g^T cols = [dW | db]
            dwb = [_gram(g2[:, co], cols) for co, cols in zip(_group_slices(c_out, groups),
                                                             ctx.cols)]
            if need_w:
                dw = np.empty_like(w)
                for co, dwb_g in zip(_group_slices(c_out, groups), dwb):
                    dw_g = dwb_g[:, :k].reshape(-1, kh, kw, w.shape[1])
                    dw[co] = dw_g.transpose(0, 3, 1, 2)
            if need_b:
                db = np.concatenate([dwb_g[:, k] for dwb_g in dwb])
        if need_x:
            n, c_in, h, wd = ctx.x_shape
            parts = []
            for ci, co in zip(_group_slices(c_in, groups), _group_slices(c_out, groups)):
                parts.append(_conv_input_grad(gh[..., co], g2[:, co], w[co], (h, wd),
                                              ctx.stride, ctx.pads, ctx.dilation))
            dx = parts[0] if groups == 1 else np.concatenate(parts, axis=3)
            dx = _nchw(dx)
            if ctx.unbatched:
                dx = dx[0]
        return (dx, dw, db) if len(ctx.needs_input_grad) == 3 else (dx, dw)


def _conv_input_grad(gh: np.ndarray, g2: np.ndarray, w: np.ndarray, hw: tuple,
                     stride: tuple, pads: tuple, dilation: tuple) -> np.ndarray:
    """dL/dx (N, H, W, C_in) of one group of conv2d, from g (N, H_out, W_out, C_out) (and
    the same as a (N*H_out*W_out, C_out) matrix g2) and the weight (C_out, C_in, kh, kw)."""
    kh, kw = w.shape[2:]
    if stride == (1, 1):  # full correlation of g with the flipped kernel
        return _full_corr(gh, w, _full_corr_pads(kh, kw, dilation, pads), dilation)
    out_h, out_w = gh.shape[1:3]
    dcols = (g2 @ _weight_cols(w).T).reshape(gh.shape[0], out_h, out_w, kh, kw, w.shape[1])
    h, wd = hw
    dxp = _col2im(dcols, (h + pads[0] + pads[1], wd + pads[2] + pads[3]), stride, dilation)
    return dxp[:, pads[0]:pads[0] + h, pads[2]:pads[2] + wd]


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as every deep-learning library computes it).

    Args:
        input: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_out, C_in/groups, kH, kW).
        bias: (C_out,) or None.
        stride, dilation: int or (h, w) pair, >= 1.
        padding: int or (h, w) pair of zeros added on both sides, or 'valid' (none) or
            'same' (output size = input size; stride 1 only; odd totals put the extra
            zero at the bottom/right, as PyTorch).
        groups: split C_in and C_out into this many groups, convolved separately.

    Returns:
        (N, C_out, H_out, W_out) with H_out = floor((H + 2 padding - dilation (kH - 1) - 1)
        / stride) + 1 (likewise W_out); (C_out, H_out, W_out) for unbatched input.

    Raises:
        ValueError: wrong input/weight/bias shapes (the message gives the expected and the
            actual shape), channels not divisible by groups, a bad padding string, or an
            input too small for the kernel.
    """
    if bias is None:
        return Conv2d.apply(input, weight, stride=stride, padding=padding,
                            dilation=dilation, groups=groups)
    return Conv2d.apply(input, weight, bias, stride=stride, padding=padding,
                        dilation=dilation, groups=groups)


# ----------------------------------------------------------------------------- transposed


def _transposed_out(size: int, k: int, s: int, p: int, op_: int, d: int) -> int:
    """(size - 1) s - 2 p + d (k - 1) + output_padding + 1 (Dumoulin & Visin,
    relation 14)."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op_ + 1


class ConvTranspose2d(Function):
    """Transposed 2-D convolution (the adjoint, i.e. the input-gradient, of conv2d), as
    ``torch.nn.functional.conv_transpose2d``.

    Shapes: x (N, C_in, H, W) or (C_in, H, W); w (C_in, C_out/groups, kH, kW); b (C_out,)
    or None -> y (N, C_out, H_out, W_out), H_out = (H - 1) s - 2 p + d (kH - 1) +
    output_padding + 1.

    Forward: each input pixel scatters x[n, :, i, j] W into the (kH, kW) window at
    (i s, j s); computed as the stride-1 full correlation with the flipped kernel (im2col +
    GEMM) when s = 1, else as one GEMM followed by col2im. Backward: with cols = im2col(g)
    at the same stride/padding/dilation, dx = cols W^T (a conv2d of g with w) and
    dW = x^T cols; db = sum of g.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, output_padding=0,
                groups=1, dilation=1):
        op = "conv_transpose2d"
        x4, unbatched = _batched(x, op)
        _check_conv(op, x4, weight, bias, groups, transposed=True, shown=x.shape)
        kh, kw = weight.shape[2:]
        stride = _pair(stride, "stride", op, 1)
        dilation = _pair(dilation, "dilation", op, 1)
        ph, pw = _pair(padding, "padding", op, 0)
        oph, opw = _pair(output_padding, "output_padding", op, 0)
        if oph >= max(stride[0], dilation[0]) or opw >= max(stride[1], dilation[1]):
            raise ValueError(f"{op}: output_padding {(oph, opw)} must be smaller than "
                             f"either stride {stride} or dilation {dilation}")
        n, c_in, h, w = x4.shape
        out_h = _transposed_out(h, kh, stride[0], ph, oph, dilation[0])
        out_w = _transposed_out(w, kw, stride[1], pw, opw, dilation[1])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{op}: the output size ({out_h}, {out_w}) is not positive "
                             f"for input {x4.shape}, kernel ({kh}, {kw}), stride {stride}, "
                             f"padding {(ph, pw)}")
        pads = (ph, ph, pw, pw)
        xh = _nhwc(x4)
        parts = []
        c_out_g = weight.shape[1]
        for ci in _group_slices(c_in, groups):
            xg, wg = xh[..., ci], weight[ci]
            if stride == (1, 1):
                full = _full_corr_pads(kh, kw, dilation, pads, (oph, opw))
                y_g = _full_corr(xg, wg, full, dilation)
            else:
                # (C_in, kh kw C_out)
                w2 = wg.transpose(0, 2, 3, 1).reshape(wg.shape[0], -1)
                cols = (xg.reshape(-1, xg.shape[3]) @ w2).reshape(n, h, w, kh, kw, c_out_g)
                full_h = (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + oph
                full_w = (w - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + opw
                yp = _col2im(cols, (full_h, full_w), stride, dilation)
                y_g = yp[:, ph:ph + out_h, pw:pw + out_w]
            parts.append(y_g)
        y = parts[0] if groups == 1 else np.concatenate(parts, axis=3)
        if bias is not None:
            y += bias  # y is always a fresh array (or a crop of one) here
        ctx.save(x=x4, weight=weight, stride=stride, pads=pads, dilation=dilation,
                 groups=groups, unbatched=unbatched)
        y = _nchw(y)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, g):
        need_x, need_w, need_b = (ctx.needs_input_grad + (False,))[:3]
        w, groups, x = ctx.weight, ctx.groups, ctx.x
        if ctx.unbatched:
            g = g[None]
        gh = _nhwc(_match_layout(g, True))
        db = _sum_rows(gh.reshape(-1, gh.shape[3])) if need_b else None
        kh, kw = w.shape[2:]
        c_in, c_out_g = w.shape[:2]
        xh = _nhwc(x)
        n, h, wd = xh.shape[:3]
        dx = np.empty((n, h, wd, c_in), g.dtype) if need_x else None
        dw = np.empty_like(w) if need_w else None
        if need_x or need_w:
            for ci, co in zip(_group_slices(c_in, groups),
                              _group_slices(c_out_g * groups, groups)):
                gp = _c_contiguous(_pad_nhwc(gh[..., co], *ctx.pads))
                cols = _im2col(gp, kh, kw, ctx.stride, ctx.dilation, h, wd)
                w2 = w[ci].transpose(0, 2, 3, 1).reshape(w[ci].shape[0], -1)
                if need_x:
                    dx[..., ci] = (cols @ w2.T).reshape(n, h, wd, -1)
                if need_w:
                    dw2 = xh[..., ci].reshape(-1, ci.stop - ci.start).T @ cols
                    dw[ci] = dw2.reshape(-1, kh, kw, c_out_g).transpose(0, 3, 1, 2)
        if dx is not None:
            dx = _nchw(dx)
            if ctx.unbatched:
                dx = dx[0]
        return (dx, dw, db) if len(ctx.needs_input_grad) == 3 else (dx, dw)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                     groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed 2-D convolution ("deconvolution"): the gradient of conv2d with respect
    to its input, used to upsample.

    Args:
        input: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_in, C_out/groups, kH, kW) (note: C_in first, as PyTorch).
        bias: (C_out,) or None.
        stride, dilation: int or pair, >= 1.
        padding: int or pair: d (k - 1) - padding zeros are conceptually added to the
            input; i.e. ``padding`` rows/cols are cropped from each side of the output.
        output_padding: int or pair added to the bottom/right of the output size
            (to pick one of the input sizes a strided conv2d maps to the same output);
            must be smaller than stride or dilation.
        groups: channel groups, as in conv2d.

    Returns:
        (N, C_out, H_out, W_out), H_out = (H - 1) stride - 2 padding + dilation (kH - 1) +
        output_padding + 1 (likewise W_out).

    Raises:
        ValueError: wrong shapes (expected and actual given), bad output_padding, or a
            non-positive output size.
    """
    if bias is None:
        return ConvTranspose2d.apply(input, weight, stride=stride, padding=padding,
                                     output_padding=output_padding, groups=groups,
                                     dilation=dilation)
    return ConvTranspose2d.apply(input, weight, bias, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups,
                                 dilation=dilation)


# ----------------------------------------------------------------------------- pooling


def _pool_args(op: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1
               ) -> tuple[tuple, tuple, tuple, tuple]:
    k = _pair(kernel_size, "kernel_size", op, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        _pair(stride, "stride", op, 1)
    p = _pair(padding, "padding", op, 0)
    d = _pair(dilation, "dilation", op, 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} should be at most half of the kernel size {k}")
    return k, s, p, d


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size: floor (or ceil) of (size + 2p - d(k-1) - 1)/s, + 1;
    with ceil_mode a last window that would start inside the right padding is dropped."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_setup(op: str, x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple,
                ceil_mode: bool, fill: float) -> tuple[np.ndarray, tuple, tuple]:
    """(the (N, C, H', W') input, padded with ``fill`` as far as the windows reach,
    (H_out, W_out), (H', W'))."""
    n, c, h, w = x.shape
    out_h = _pool_out(h, k[0], s[0], p[0], d[0], ceil_mode)
    out_w = _pool_out(w, k[1], s[1], p[1], d[1], ceil_mode)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{op}: input of spatial size ({h}, {w}) is too small for kernel "
                         f"{k} with padding {p} and dilation {d}: the output would be "
                         f"({out_h}, {out_w})")
    need_h = (out_h - 1) * s[0] + d[0] * (k[0] - 1) + 1
    need_w = (out_w - 1) * s[1] + d[1] * (k[1] - 1) + 1
    if p == (0, 0) and need_h <= h and need_w <= w:
        return x, (out_h, out_w), (h, w)
    ph, pw = max(need_h, h + p[0]), max(need_w, w + p[1])
    xp = _new_like_layout(_is_channels_last(x), (n, c, ph, pw), x.dtype, np.empty)
    xp.fill(fill)
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    return xp, (out_h, out_w), (ph, pw)


def _taps(k: tuple, s: tuple, d: tuple, out_hw: tuple):
    """(tap index, (slice over H, slice over W)) for each kernel offset, row-major."""
    hspan, wspan = s[0] * (out_hw[0] - 1) + 1, s[1] * (out_hw[1] - 1) + 1
    for i in range(k[0]):
        for j in range(k[1]):
            yield i * k[1] + j, (slice(i * d[0], i * d[0] + hspan, s[0]),
                                 slice(j * d[1], j * d[1] + wspan, s[1]))


def _disjoint(k: tuple, s: tuple, d: tuple) -> bool:
    """Whether no input position is read by two taps (windows don't overlap)."""
    return all(st >= dd * (kk - 1) + 1 for kk, st, dd in zip(k, s, d))


class MaxPool2d(Function):
    """Max over each (kH, kW) window, as ``torch.nn.functional.max_pool2d``.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), H_out as in conv2d (or
    rounded up with ceil_mode). Padding is -inf. dx routes g to the window's max (summed
    where windows overlap); on ties, to the first position in row-major window order,
    as PyTorch.

    Computed as a running np.maximum over the kH*kW strided taps of the (padded) input;
    no window copy. Backward finds each window's first tap equal to the max.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        op = "max_pool2d"
        x4, unbatched = _batched(x, op)
        k, s, p, d = _pool_args(op, kernel_size, stride, padding, dilation)
        xp, out_hw, padded_hw = _pool_setup(op, x4, k, s, p, d, ceil_mode, -np.inf)
        taps = [sl for _, sl in _taps(k, s, d, out_hw)]
        if len(taps) == 1:
            y = xp[(slice(None), slice(None)) + taps[0]].copy(order="K")
        else:
            (h0, w0), (h1, w1) = taps[:2]
            y = np.maximum(xp[:, :, h0, w0], xp[:, :, h1, w1])
            for sh, sw in taps[2:]:
                np.maximum(y, xp[:, :, sh, sw], out=y)
        ctx.save(xp=xp, y=y, k=k, s=s, p=p, d=d, out_hw=out_hw, padded_hw=padded_hw,
                 x_shape=x4.shape, channels_last=_is_channels_last(x4),
                 unbatched=unbatched)
        return y[0] if unbatched else y

    @staticmethod
    def _winners(ctx):
        """(tap index, (slice over H, slice over W), bool mask of the windows whose first
        maximum is at that tap) for each tap."""
        xp, y = ctx.xp, ctx.y
        taken = None
        for t, (sh, sw) in _taps(ctx.k, ctx.s, ctx.d, ctx.out_hw):
            hit = xp[:, :, sh, sw] == y
            if taken is None:
                taken = hit
            else:
                hit = np.greater(hit, taken)  # hit and not taken
                taken |= hit
            yield t, (sh, sw), hit

    @staticmethod
    def backward(ctx, g):
        if ctx.unbatched:
            g = g[None]
        g = _match_layout(g, ctx.channels_last)
        n, c, h, w = ctx.x_shape
        ph, pw = ctx.padded_hw
        disjoint = _disjoint(ctx.k, ctx.s, ctx.d)
        # windows that tile the whole (padded) input write every element: no zero fill
        tiled = disjoint and all(
            dd == 1 and st == kk and out * st == size
            for kk, st, dd, out, size in zip(ctx.k, ctx.s, ctx.d, ctx.out_hw, (ph, pw)))
        dxp = _new_like_layout(ctx.channels_last, (n, c, ph, pw), g.dtype,
                               np.empty if tiled else _zeros)
        for _, (sh, sw), hit in MaxPool2d._winners(ctx):
            if disjoint:
                np.multiply(g, hit, out=dxp[:, :, sh, sw])
            else:
                dxp[:, :, sh, sw] += g * hit
        p = ctx.p
        dx = dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w]
        return dx[0] if ctx.unbatched else dx

    @staticmethod
    def indices(ctx) -> np.ndarray:
        """The winning tap per window, as an integer array of the output's shape."""
        idx = np.zeros(ctx.y.shape, np.int64)
        for t, _, hit in MaxPool2d._winners(ctx):
            idx[hit] = t
        return idx


def _max_indices(idx: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple,
                 width: int) -> np.ndarray:
    """Flat input indices h * W + w of the winning taps, as torch's return_indices."""
    oh, ow = idx.shape[-2:]
    ti, tj = np.divmod(idx.astype(np.int64), k[1])
    rows = np.arange(oh)[:, None] * s[0] - p[0] + ti * d[0]
    cols = np.arange(ow)[None, :] * s[1] - p[1] + tj * d[1]
    return np.ascontiguousarray(rows * width + cols)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False):
    """Max pooling over (kH, kW) windows.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W).
        kernel_size: int or pair.
        stride: int or pair; default kernel_size.
        padding: int or pair of -inf added on both sides, at most half the kernel.
        dilation: spacing between window taps.
        ceil_mode: round the output size up (a last, partial window is kept unless it
            would start in the right padding).
        return_indices: also return the int64 positions (h * W + w in the unpadded
            input plane) of each max, as PyTorch.

    Returns:
        (N, C, H_out, W_out), H_out = floor((H + 2 padding - dilation (kH - 1) - 1) /
        stride) + 1; with return_indices, (output, indices).

    Raises:
        ValueError: padding larger than half the kernel, or an input too small.
    """
    out = MaxPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=padding,
                          dilation=dilation, ceil_mode=ceil_mode)
    if not return_indices:
        return out
    ctx = out.grad_fn
    if ctx is None:  # not recorded: compute the indices with a recording-free replay
        ctx = MaxPool2d()
        ctx.needs_input_grad = (False,)
        MaxPool2d.forward(ctx, input.data if isinstance(input, Tensor) else
                          np.asarray(input), kernel_size, stride, padding, dilation,
                          ceil_mode)
    idx = MaxPool2d.indices(ctx)
    if ctx.unbatched:
        idx = idx[0]
    indices = _max_indices(idx, ctx.k, ctx.s, ctx.p, ctx.d, ctx.x_shape[3])
    return out, Tensor(indices)


class AvgPool2d(Function):
    """Mean over each (kH, kW) window, as ``torch.nn.functional.avg_pool2d``.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out). Zero padding. The divisor
    is kH*kW with count_include_pad (clipped at the padded border with ceil_mode), the
    number of real input elements in the window without it, or divisor_override.
    dx: each window spreads g / divisor over its positions.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        op = "avg_pool2d"
        x4, unbatched = _batched(x, op)
        k, s, p, d = _pool_args(op, kernel_size, stride, padding)
        if divisor_override is not None and divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero")
        xp, out_hw, padded_hw = _pool_setup(op, x4, k, s, p, d, ceil_mode, 0.0)
        taps = _taps(k, s, d, out_hw)
        _, (sh, sw) = next(taps)
        y = xp[:, :, sh, sw].copy(order="K")
        for _, (sh, sw) in taps:
            y += xp[:, :, sh, sw]
        div = _avg_divisor(x4.shape[2:], k, s, p, out_hw, count_include_pad,
                           divisor_override, x4.dtype)
        y /= div
        ctx.save(div=div, k=k, s=s, p=p, out_hw=out_hw, padded_hw=padded_hw,
                 x_shape=x4.shape, channels_last=_is_channels_last(x4),
                 unbatched=unbatched)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, g):
        if ctx.unbatched:
            g = g[None]
        k, s = ctx.k, ctx.s
        n, c, h, w = ctx.x_shape
        ph, pw = ctx.padded_hw
        dxp = _new_like_layout(ctx.channels_last, (n, c, ph, pw), g.dtype)
        gd = _match_layout(g, ctx.channels_last) / ctx.div
        disjoint = _disjoint(k, s, (1, 1))
        for _, (sh, sw) in _taps(k, s, (1, 1), ctx.out_hw):
            if disjoint:
                dxp[:, :, sh, sw] = gd
            else:
                dxp[:, :, sh, sw] += gd
        p = ctx.p
        dx = dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w]
        return dx[0] if ctx.unbatched else dx


def _avg_divisor(hw: tuple, k: tuple, s: tuple, p: tuple, out_hw: tuple,
                 count_include_pad: bool, divisor_override: Any, dtype: Any):
    """The divisor per output position, as PyTorch's AvgPool2d kernel: a scalar where it
    is the same everywhere, else an (H_out, W_out) array."""
    if divisor_override is not None:
        return float(divisor_override)
    sizes = []
    for size, kk, st, pp, out in zip(hw, k, s, p, out_hw):
        start = np.arange(out) * st - pp
        end = np.minimum(start + kk, size + pp)
        pool = end - start
        if not count_include_pad:
            pool = np.minimum(end, size) - np.maximum(start, 0)
        sizes.append(pool)
    div = sizes[0][:, None] * sizes[1][None, :]
    if (div == div.flat[0]).all():
        return float(div.flat[0])
    return div.astype(dtype)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Average pooling over (kH, kW) windows.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W).
        kernel_size: int or pair.
        stride: int or pair; default kernel_size.
        padding: int or pair of zeros added on both sides, at most half the kernel.
        ceil_mode: round the output size up.
        count_include_pad: count the zero padding in the divisor (default, as PyTorch).
        divisor_override: divide every window sum by this instead.

    Returns:
        (N, C, H_out, W_out), H_out = floor((H + 2 padding - kH) / stride) + 1.

    Raises:
        ValueError: padding larger than half the kernel, or an input too small.
    """
    return AvgPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=padding,
                           ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                           divisor_override=divisor_override)


_POOL_MATRICES: dict[tuple, np.ndarray] = {}


def _adaptive_matrix(size: int, out: int, dtype: Any) -> np.ndarray:
    """(out, size) averaging matrix: row i is 1/(end - start) on [start, end), with
    start = floor(i size / out) and end = ceil((i + 1) size / out) (PyTorch's bins)."""
    key = (size, out, np.dtype(dtype).str)
    m = _POOL_MATRICES.get(key)
    if m is None:
        m = np.zeros((out, size), dtype)
        for i in range(out):
            start = (i * size) // out
            end = -((-(i + 1) * size) // out)
            m[i, start:end] = 1.0 / (end - start)
        m.flags.writeable = False
        _POOL_MATRICES[key] = m
    return m


class AdaptiveAvgPool2d(Function):
    """Average pooling to a fixed output size, as
    ``torch.nn.functional.adaptive_avg_pool2d``: output cell (i, j) averages input rows
    [floor(i H / H_out), ceil((i + 1) H / H_out)) and the like columns, so bins can
    overlap by one when H_out does not divide H.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out). With averaging matrices
    A (H_out, H) and B (W_out, W): y = A x B^T, dx = A^T g B.
    """

    @staticmethod
    def forward(ctx, x, output_size):
        op = "adaptive_avg_pool2d"
        x4, _ = _batched(x, op)
        h, w = x4.shape[2:]
        if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
            output_size = (int(output_size), int(output_size))
        if not (isinstance(output_size, (tuple, list)) and len(output_size) == 2):
            raise TypeError(f"{op}: output_size must be an int or a pair (None keeps the "
                            f"input size), got {output_size!r}")
        oh = h if output_size[0] is None else int(output_size[0])
        ow = w if output_size[1] is None else int(output_size[1])
        if oh < 1 or ow < 1:
            raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
        if h < 1 or w < 1:
            raise ValueError(f"{op}: input {x.shape} has an empty spatial dim")
        a = _adaptive_matrix(h, oh, x.dtype)
        b = _adaptive_matrix(w, ow, x.dtype)
        ctx.save(a=a, b=b)
        if oh == 1 and ow == 1:
            return x.mean(axis=(-2, -1), keepdims=True)
        return a @ x @ b.T

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        if a.shape[0] == 1 and b.shape[0] == 1:
            n = a.shape[1] * b.shape[1]
            return np.broadcast_to(g / n, g.shape[:-2] + (a.shape[1], b.shape[1]))
        return a.T @ g @ b


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed (H_out, W_out), whatever the input size.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W).
        output_size: int (square) or pair; None in the pair keeps that input dim.

    Returns:
        (N, C, H_out, W_out). Cell (i, j) averages rows floor(i H / H_out) ..
        ceil((i + 1) H / H_out) - 1 and the like columns (PyTorch's bins).

    Raises:
        TypeError/ValueError: a bad output_size, or an input that is not 3-D or 4-D.
    """
    return AdaptiveAvgPool2d.apply(input, output_size=output_size)
