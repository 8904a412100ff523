"""A transposed convolution traced cell by cell: which input value times which kernel weight
adds into each output value.

A transposed convolution (``ConvTranspose2d``) scatters every input value over the output:
input cell (i, j) of channel c adds ``x[c, i, j] · w[c, o, a, b]`` into output cell

    (i·S_H − P_H + a·D_H,  j·S_W − P_W + b·D_W)    of output channel o,

for every kernel position (a, b), and cells scattered outside the output (cropped by the
padding) are dropped (Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep
learning", section 4; PyTorch's ``ConvTranspose2d`` docs). Where scatters overlap, their
terms add up. :func:`trace_transposed` computes the output with the engine's
``F.conv_transpose2d`` and keeps, for each output cell, the list of its terms
(:meth:`TransposedTrace.terms`), which sum to it.

Shapes: C_in, C_out channels (groups = 1), H×W input, kH×kW kernel, H'×W' output with
H' = (H − 1)·S − 2P + D·(kH − 1) + output_padding + 1. The session layer: no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from playground.engine import Tensor, no_grad
from playground.engine import functional as F

__all__ = ["Term", "TransposedTrace", "trace_transposed", "DEMO_INPUT", "DEMO_KERNEL"]

#: The demo's input: the 2×2 image [[1, 2], [3, 4]].
DEMO_INPUT = np.array([[1.0, 2.0], [3.0, 4.0]])
#: The demo's 3×3 kernel, 1..9 row by row, so that every term names its kernel position.
DEMO_KERNEL = np.arange(1.0, 10.0).reshape(3, 3)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


@dataclass(frozen=True)
class Term:
    """One product that adds into an output cell: input ``x[c, i, j]`` times kernel weight
    ``w[c, o, a, b]`` (``value`` = their product); or, with ``c`` = -1, the bias of
    channel o (``weight`` = the bias, ``input`` = 1)."""

    c: int
    i: int
    j: int
    a: int
    b: int
    input: float
    weight: float

    @property
    def value(self) -> float:
        return self.input * self.weight


@dataclass(frozen=True)
class TransposedTrace:
    """A transposed convolution's output (float64 (C_out, H', W'), by the engine) and the
    terms behind each output cell.

    Attributes:
        x: the input (C_in, H, W); weight (C_in, C_out, kH, kW); bias (C_out,) or None.
        output: (C_out, H', W'), from ``F.conv_transpose2d`` in float64.
        stride, padding, dilation, output_padding: pairs.
    """

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    output: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    output_padding: tuple[int, int]

    def terms(self, o: int, r: int, s: int) -> list[Term]:
        """The terms that add into output cell (r, s) of channel ``o``, by input cell then
        kernel position; the bias (if any) last. Their values sum to ``output[o, r, s]``.

        Raises:
            IndexError: no such output cell (names the output's shape).
        """
        c_out, h_out, w_out = self.output.shape
        if not (0 <= o < c_out and 0 <= r < h_out and 0 <= s < w_out):
            raise IndexError(f"output cell ({o}, {r}, {s}) is outside the output "
                             f"{self.output.shape}")
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        c_in, h, w = self.x.shape
        kh, kw = self.weight.shape[2:]
        out: list[Term] = []
        for c in range(c_in):
            for i in range(h):
                for a in range(kh):
                    if i * sh - ph + a * dh != r:
                        continue
                    for j in range(w):
                        for b in range(kw):
                            if j * sw - pw + b * dw == s:
                                out.append(Term(c, i, j, a, b, float(self.x[c, i, j]),
                                                float(self.weight[c, o, a, b])))
        if self.bias is not None:
            out.append(Term(-1, -1, -1, -1, -1, 1.0, float(self.bias[o])))
        return out

    def scatter(self, c: int, i: int, j: int, o: int = 0) -> list[tuple[int, int, int, int]]:
        """Where input cell (c, i, j) lands in output channel ``o``: ``[(r, s, a, b)]``,
        output cell and the kernel position that takes it there (cropped cells left out)."""
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        kh, kw = self.weight.shape[2:]
        _, h_out, w_out = self.output.shape
        return [(i * sh - ph + a * dh, j * sw - pw + b * dw, a, b)
                for a in range(kh) for b in range(kw)
                if 0 <= i * sh - ph + a * dh < h_out and 0 <= j * sw - pw + b * dw < w_out]


def trace_transposed(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                     dilation=1) -> TransposedTrace:
    """Trace ``conv_transpose2d(x, weight, bias, ...)`` (groups = 1).

    Args:
        x: (C_in, H, W) or (H, W) (one channel).
        weight: (C_in, C_out, kH, kW) or (kH, kW) (one channel in and out).
        bias: (C_out,) or None.
        stride, padding, output_padding, dilation: ints or pairs, as ``ConvTranspose2d``.

    Raises:
        ValueError: shapes that do not fit, or settings the engine refuses (its message).
    """
    x = np.asarray(x, np.float64)
    weight = np.asarray(weight, np.float64)
    if x.ndim == 2:
        x = x[None]
    if weight.ndim == 2:
        weight = weight[None, None]
    if x.ndim != 3 or weight.ndim != 4 or weight.shape[0] != x.shape[0]:
        raise ValueError(f"input (C_in, H, W) and weight (C_in, C_out, kH, kW) do not fit: "
                         f"got {x.shape} and {weight.shape}")
    b = None if bias is None else np.asarray(bias, np.float64).reshape(-1)
    with no_grad():
        out = F.conv_transpose2d(Tensor(x[None]), Tensor(weight),
                                 None if b is None else Tensor(b), stride=stride,
                                 padding=padding, output_padding=output_padding,
                                 dilation=dilation).data[0]
    return TransposedTrace(x, weight, b, np.asarray(out, np.float64), _pair(stride),
                           _pair(padding), _pair(dilation), _pair(output_padding))
