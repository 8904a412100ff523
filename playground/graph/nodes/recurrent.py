"""Recurrent layers: RNN, LSTM, GRU, as PyTorch's (gate order, parameter names, shapes).

Shapes: N batch, L sequence length, I = input_size, H = hidden_size, D = 2 if bidirectional
else 1. The input is (N, L, I) with ``batch_first=True`` and (L, N, I) otherwise (PyTorch's
default). Outputs: ``output`` (N, L, D*H) (or (L, N, D*H)), the top layer's hidden state at
every step; ``h_n`` (D*num_layers, N, H), each layer's last hidden state; the LSTM's ``c_n``
likewise for the cell state. ``h_0`` (and ``c_0``) are optional initial states (zeros when
not wired).

Costs per example (N = 1), with G gates (RNN 1, GRU 3, LSTM 4) and I_l the input size of
layer l (I for the first layer, D*H above it):

* params ``D * sum_l G*(H*I_l + H*H + 2*H)``: W_ih (G*H, I_l), W_hh (G*H, H) and PyTorch's two
  biases b_ih and b_hh (G*H each), per layer and direction;
* MACs ``L * D * sum_l G*(H*I_l + H*H)``: the two matrix-vector products of every step,
  counted over the whole sequence (elementwise gate products are not multiply-accumulates
  with weights and are not counted).
"""

from __future__ import annotations

from playground.engine import nn

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import adapted, mismatch, need, seq_len, sequence, tensor
from ._init import INIT_PARAMS

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _state(p, inputs, port: str, d: int) -> None:
    src = inputs.get(port)
    if src is None:
        return
    src = need(inputs, port, "")
    want = (d * p["num_layers"], None, p["hidden_size"])
    if tuple(src.shape) != want:
        state = "the c_n of an LSTM" if port == "c_0" else "the h_n of a recurrent layer"
        raise ShapeError(f"expects its initial state '{port}' shaped (D*num_layers, N, "
                         f"hidden_size) = {format_shape(want)}, got {format_shape(src.shape)} "
                         f"from '{src.node}'. Wire {state} with the same num_layers, "
                         "bidirectional and hidden_size.")


def _make_infer(kind: str):
    def infer(p, inputs):
        src = tensor(need(inputs, "input", "a batch of sequences"), "input")
        length = sequence(src, "input", p["batch_first"], "input_size")
        if src.shape[-1] != p["input_size"]:
            raise mismatch("input_size={}", "input_size", p["input_size"], src, -1)
        d = 2 if p["bidirectional"] else 1
        _state(p, inputs, "h_0", d)
        if kind == "LSTM":
            _state(p, inputs, "c_0", d)
            if ("h_0" in inputs) != ("c_0" in inputs):
                have, miss = ("h_0", "c_0") if "h_0" in inputs else ("c_0", "h_0")
                raise ShapeError(f"has '{have}' wired but not '{miss}': an LSTM starts from "
                                 f"both states. Wire '{miss}' too, or neither.")
        n_h = p["hidden_size"]
        out = (None, length, d * n_h) if p["batch_first"] else (length, None, d * n_h)
        shapes = {"output": out, "h_n": (d * p["num_layers"], None, n_h)}
        if kind == "LSTM":
            shapes["c_n"] = shapes["h_n"]
        return shapes
    return infer


def _make_cost(kind: str):
    g = _GATES[kind]

    def cost(p, ins, outs) -> Cost:
        i, h, layers = p["input_size"], p["hidden_size"], p["num_layers"]
        d = 2 if p["bidirectional"] else 1
        length = seq_len(ins["input"], p["batch_first"])
        bias = 2 * h if p["bias"] else 0
        deep_in = d * h
        params = d * (g * (h * i + h * h + bias) + (layers - 1) * g * (h * deep_in + h * h + bias))
        macs = length * d * (g * (h * i + h * h) + (layers - 1) * g * (h * deep_in + h * h))
        b_s, b_n = (" + 2*H", f" + 2*{h}") if p["bias"] else ("", "")
        # the symbolic and the numeric forms share one structure
        ps = [f"{g}*(H*I + H*H{b_s})"]
        pn = [f"{g}*({h}*{i} + {h}*{h}{b_n})"]
        ms = [f"{g}*(H*I + H*H)"]
        mn = [f"{g}*({h}*{i} + {h}*{h})"]
        if layers > 1:
            di_s, di_n = ("D*H", f"{d}*{h}") if d > 1 else ("H", str(h))
            ps.append(f"(num_layers-1)*{g}*(H*{di_s} + H*H{b_s})")
            pn.append(f"({layers}-1)*{g}*({h}*{di_n} + {h}*{h}{b_n})")
            ms.append(f"(num_layers-1)*{g}*(H*{di_s} + H*H)")
            mn.append(f"({layers}-1)*{g}*({h}*{di_n} + {h}*{h})")

        def wrap(parts, lead):
            body = " + ".join(parts)
            return f"{lead}*({body})" if lead and len(parts) > 1 else \
                f"{lead}*{body}" if lead else body

        pf = f"{wrap(ps, 'D' if d > 1 else '')} = {wrap(pn, str(d) if d > 1 else '')}"
        ml = "L*D" if d > 1 else "L"
        mf = f"{wrap(ms, ml)} = {wrap(mn, f'{length}*{d}' if d > 1 else str(length))}"
        return Cost(params, macs, pf, mf)
    return cost


def _forward_rnn(base, self, input, h_0=None):
    output, h_n = base(self, input, h_0)
    return {"output": output, "h_n": h_n}


def _forward_lstm(base, self, input, h_0=None, c_0=None):
    output, (h_n, c_n) = base(self, input, None if h_0 is None else (h_0, c_0))
    return {"output": output, "h_n": h_n, "c_n": c_n}


def _build(kind: str):
    def build(p, ins):
        cls = getattr(nn, kind)
        node_cls = adapted(cls, f"{kind}Node",
                           _forward_lstm if kind == "LSTM" else _forward_rnn)
        kwargs = dict(num_layers=p["num_layers"], bias=p["bias"], batch_first=p["batch_first"],
                      dropout=p["dropout"], bidirectional=p["bidirectional"])
        if kind == "RNN":
            kwargs["nonlinearity"] = p["nonlinearity"]
        return node_cls(p["input_size"], p["hidden_size"], **kwargs)
    return build


def _params(kind: str) -> tuple:
    ps = [
        ParamSpec("input_size", "int", 8, "features of each step of the input (I)", low=1,
                  high=100_000),
        ParamSpec("hidden_size", "int", 16, "features of the hidden state (H)", low=1,
                  high=100_000),
        ParamSpec("num_layers", "int", 1, "stacked recurrent layers", low=1, high=16),
    ]
    if kind == "RNN":
        ps.append(ParamSpec("nonlinearity", "choice", "tanh", "the activation of each step",
                            choices=("tanh", "relu")))
    ps += [
        ParamSpec("bias", "bool", True, "learn the biases b_ih and b_hh"),
        ParamSpec("batch_first", "bool", False, "input and output are (N, L, features) "
                                                "instead of (L, N, features)"),
        ParamSpec("dropout", "float", 0.0, "dropout between stacked layers (training only)",
                  low=0.0, high=1.0),
        ParamSpec("bidirectional", "bool", False, "also run the sequence backwards and "
                                                  "concatenate (D = 2)"),
        *INIT_PARAMS,
    ]
    return tuple(ps)


_STATE_DOC = "(D*num_layers, N, H), optional (zeros)"
_DESCRIPTIONS = {
    "RNN": ("Elman recurrent layer: h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh).",
            "h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)"),
    "LSTM": ("Long short-term memory: input, forget, cell and output gates keep a cell "
             "state c_t.",
             "c_t = f*c_(t-1) + i*g; h_t = o*tanh(c_t); gates i, f, g, o (PyTorch's order)"),
    "GRU": ("Gated recurrent unit: reset and update gates mix the old and a candidate "
            "hidden state.",
            "h_t = (1-z)*n + z*h_(t-1); n = tanh(W_in x + b_in + r*(W_hn h + b_hn))"),
}

for _kind in ("RNN", "LSTM", "GRU"):
    _ins = [PortSpec("input", "tensor", "x: (N, L, I) if batch_first else (L, N, I)"),
            PortSpec("h_0", "tensor", "initial hidden state " + _STATE_DOC)]
    _outs = [PortSpec("output", "tensor", "top layer's h_t for every t: (N, L, D*H)"),
             PortSpec("h_n", "tensor", "last hidden state of every layer: (D*num_layers, N, H)")]
    if _kind == "LSTM":
        _ins.append(PortSpec("c_0", "tensor", "initial cell state " + _STATE_DOC))
        _outs.append(PortSpec("c_n", "tensor", "last cell state of every layer: "
                                               "(D*num_layers, N, H)"))
    REGISTRY.register(NodeSpec(
        type=_kind,
        category="Recurrent",
        description=_DESCRIPTIONS[_kind][0],
        inputs=tuple(_ins),
        outputs=tuple(_outs),
        params=_params(_kind),
        infer=_make_infer(_kind),
        build=_build(_kind),
        cost=_make_cost(_kind),
        doc=_DESCRIPTIONS[_kind][1],
    ))

__all__: list[str] = []
