"""nn modules: RNN, LSTM, GRU (whole sequences) and RNNCell, LSTMCell, GRUCell (one step).

Shapes: L sequence length, N batch, I ``input_size``, H ``hidden_size``, D = 2 if
bidirectional else 1. Parameter names, shapes, gate orders (LSTM i, f, g, o; GRU r, z, n)
and default init match PyTorch, so state dicts transfer both ways. Each sequence module
runs as one fused op (see :mod:`playground.engine.recurrent`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import init
from .. import recurrent as R
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"recurrent modules support dtype float32 or float64, got {dtype}")
    return dtype


def _positive(name: str, n: Any) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


class RNNBase(Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`.

    Parameters, per layer k and direction (suffix ``_reverse`` for the second):
    ``weight_ih_l{k}`` (G*H, I) for k = 0 else (G*H, D*H), ``weight_hh_l{k}`` (G*H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*H,) with G = 4 (LSTM), 3 (GRU), 1 (RNN).
    Default init as PyTorch: every weight and bias U(-1/sqrt(H), 1/sqrt(H)).

    Raises:
        ValueError: a non-positive size, dropout outside [0, 1], an unknown mode, or
            ``proj_size`` other than 0 (projections are not supported).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, dtype: Any = None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"unknown recurrent mode {mode!r}")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout <= 1
                and not isinstance(dropout, bool)):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if proj_size:
            raise ValueError("proj_size is not supported (only proj_size=0)")
        self.mode = mode
        self.input_size = _positive("input_size", input_size)
        self.hidden_size = _positive("hidden_size", hidden_size)
        self.num_layers = _positive("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        dtype = _dtype(dtype)
        gate_size = _GATES[mode] * self.hidden_size
        D = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(self.num_layers):
            for direction in range(D):
                in_size = self.input_size if layer == 0 else D * self.hidden_size
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate_size, in_size)),
                          ("weight_hh", (gate_size, self.hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                for name, shape in shapes:
                    full = f"{name}_l{layer}{suffix}"
                    setattr(self, full, Parameter(np.empty(shape, dtype)))
                    self._flat_weights_names.append(full)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw every weight and bias from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction, as PyTorch's ``all_weights``."""
        per = 4 if self.bias else 2
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def _check_input(self, input: Tensor, hx: Any) -> tuple[bool, tuple]:
        x = input.data if isinstance(input, Tensor) else np.asarray(input)
        if x.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                             f"{x.ndim}D tensor of shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input.size(-1) must be equal to "
                             f"input_size. Expected {self.input_size}, got {x.shape[-1]}")
        D = 2 if self.bidirectional else 1
        if x.ndim == 2:
            want = (self.num_layers * D, self.hidden_size)
        else:
            n = x.shape[0] if self.batch_first else x.shape[1]
            want = (self.num_layers * D, n, self.hidden_size)
        states = () if hx is None else (tuple(hx) if isinstance(hx, (tuple, list)) else (hx,))
        for s in states:
            shape = s.shape if hasattr(s, "shape") else np.shape(s)
            if tuple(shape) != want:
                raise ValueError(f"{type(self).__name__}: Expected hidden size {want}, got "
                                 f"{tuple(shape)}")
        return x.ndim == 2, want

    def _run(self, fn, input: Tensor, hx: Any) -> tuple:
        return fn(input, hx, self._flat_weights, self.bias, self.num_layers, self.dropout,
                  self.training, self.bidirectional, self.batch_first)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh), per layer, each
    layer's outputs being the next one's inputs (with dropout between layers in training).

    Args:
        input_size: I. hidden_size: H. num_layers: stacked layers.
        nonlinearity: 'tanh' or 'relu'.
        bias: use b_ih and b_hh. batch_first: input/output (N, L, .) instead of (L, N, .).
        dropout: dropout probability on the outputs of every layer but the last.
        bidirectional: add a second direction reading the sequence backwards.

    forward(input, hx=None):
        input (L, N, I) / (N, L, I) with batch_first / (L, I) unbatched; hx h0
        (num_layers*D, N, H) (or (num_layers*D, H)), zeros if None.
        Returns ``(output, h_n)``: output (L, N, D*H) (same layout as input), h_n
        (num_layers*D, N, H).

    Raises:
        ValueError: an unknown nonlinearity (at construction); wrong input or hx shapes.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple:
        self._check_input(input, hx)
        fn = R.rnn_tanh if self.nonlinearity == "tanh" else R.rnn_relu
        return self._run(fn, input, hx)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's nn.LSTM (gates i, f, g, o):
    i, f, o = sigmoid(...), g = tanh(...), c_t = f c_(t-1) + i g, h_t = o tanh(c_t).
    Arguments as :class:`RNN` (no nonlinearity).

    forward(input, hx=None):
        hx ``(h0, c0)``, each (num_layers*D, N, H), zeros if None.
        Returns ``(output, (h_n, c_n))``.

    Source: Hochreiter & Schmidhuber (1997); forget gate, Gers et al. (2000).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, dtype: Any = None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTM: hx must be a tuple (h0, c0)")
        self._check_input(input, hx)
        out, h_n, c_n = self._run(R.lstm, input, hx)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's nn.GRU (gates r, z, n):
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h_t = (1 - z) n + z h_(t-1).
    Arguments, forward and returns as :class:`RNN` (no nonlinearity).

    Source: Cho et al. (2014).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype: Any = None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple:
        self._check_input(input, hx)
        return self._run(R.gru, input, hx)


# ----------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """Shared parameters of the cells: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H),
    ``bias_ih``, ``bias_hh`` (G*H,) (or None without bias); init U(-1/sqrt(H), 1/sqrt(H)).

    Raises:
        ValueError: a non-positive size.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 dtype: Any = None):
        super().__init__()
        self.input_size = _positive("input_size", input_size)
        self.hidden_size = _positive("hidden_size", hidden_size)
        self.bias = bool(bias)
        dtype = _dtype(dtype)
        g = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.empty((g, self.input_size), dtype))
        self.weight_hh = Parameter(np.empty((g, self.hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(g, dtype))
            self.bias_hh = Parameter(np.empty(g, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _zeros(self, input: Tensor) -> Tensor:
        x = input.data
        shape = (self.hidden_size,) if x.ndim == 1 else (x.shape[0], self.hidden_size)
        return Tensor(np.zeros(shape, self.weight_ih.data.dtype))

    def _check(self, input: Tensor) -> None:
        x = input.data
        if x.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                             f"{x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input has {x.shape[-1]} features, "
                             f"expected input_size={self.input_size}")

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s + (", bias=False" if not self.bias else "")


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    forward(input, hx=None): input (N, I) or (I,); hx (N, H) or (H,), zeros if None ->
    h' (N, H) or (H,).

    Raises:
        ValueError: an unknown nonlinearity; wrong input shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        self._check(input)
        fn = R.rnn_tanh_cell if self.nonlinearity == "tanh" else R.rnn_relu_cell
        return fn(input, self._zeros(input) if hx is None else hx, self.weight_ih,
                  self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o), as PyTorch's nn.LSTMCell.

    forward(input, hx=None): input (N, I) or (I,); hx ``(h, c)`` each (N, H) or (H,),
    zeros if None -> ``(h', c')``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = None):
        super().__init__(input_size, hidden_size, bias, 4, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        self._check(input)
        if hx is None:
            z = self._zeros(input)
            hx = (z, z)
        return R.lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih,
                           self.bias_hh)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n), as PyTorch's nn.GRUCell.

    forward(input, hx=None): input (N, I) or (I,); hx (N, H) or (H,), zeros if None ->
    h' (N, H) or (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = None):
        super().__init__(input_size, hidden_size, bias, 3, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        self._check(input)
        return R.gru_cell(input, self._zeros(input) if hx is None else hx, self.weight_ih,
                          self.weight_hh, self.bias_ih, self.bias_hh)
