"""How each node type is written in PyTorch: the submodule it declares (if any) and its line
in ``forward()``.

One function per node type, :data:`MAPPINGS`, ``map(params, inputs) -> NodeCode``: ``params``
are the node's validated params (a value may be an :class:`Expr`, a block's constructor
argument such as ``planes``); ``inputs`` maps each wired input port to the Python expression
holding its value. torch.nn built-ins are used wherever one exists, with PyTorch's
parameter names and layouts, so the engine's state dict loads into them unchanged (see
DESIGN.md, "Parameters match PyTorch"). Loss nodes and data nodes have no mapping here:
the module computes the model's outputs, and the data comes in through ``forward``'s
arguments.

This module writes text only; it never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

__all__ = ["Expr", "Inputs", "NodeCode", "MAPPINGS", "HELPERS", "RANDOM_TYPES", "BARE_PARAMETERS",
           "lit"]


class Expr(str):
    """Python code standing for a value, e.g. ``planes`` or ``4 * planes`` inside a block's
    class; written as is (never quoted) and never equal to a default."""


def lit(value: Any) -> str:
    """A param value as Python source: ``3``, ``1e-05``, ``(3, 3)``, ``'tanh'``, ``None``."""
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, (list, tuple)):
        items = [lit(v) for v in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, float):
        return repr(value)
    return repr(value)


def _same(value: Any, default: Any) -> bool:
    """True when ``value`` is PyTorch's ``default`` (so the keyword can be left out)."""
    if isinstance(value, Expr):
        return False
    if isinstance(value, (list, tuple)):
        if isinstance(default, (list, tuple)):
            return tuple(value) == tuple(default)
        return all(v == default for v in value)  # (1, 1) is PyTorch's stride=1
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return value == default


def call(fn: str, p: Mapping[str, Any], positional: tuple[str, ...] = (),
         defaults: Mapping[str, Any] | None = None) -> str:
    """``fn(p[a], p[b], k=p[k], ...)``: the positional params, then each keyword param whose
    value differs from PyTorch's default."""
    parts = [lit(p[name]) for name in positional]
    for name, default in (defaults or {}).items():
        if not _same(p[name], default):
            parts.append(f"{name}={lit(p[name])}")
    return f"{fn}({', '.join(parts)})"


class Inputs(dict):
    """``{input port: expression}``, and in ``used`` the output ports something reads."""

    def __init__(self, ports: Mapping[str, str], used: set[str] | frozenset = frozenset()):
        super().__init__(ports)
        self.used = frozenset(used)


@dataclass(frozen=True)
class NodeCode:
    """One node in PyTorch.

    Attributes:
        module: the constructor of its submodule (``"nn.Linear(2, 8)"``), or None for a
            line without a submodule (``a + b``).
        rhs: the right-hand side of its ``forward`` line; ``{self}`` stands for
            ``self.<submodule>``.
        lhs: the left-hand side with one ``{port}`` field per output port, e.g.
            ``"{output}, ({h_n}, {c_n})"``; empty for the one output port; ``"*"`` for
            every output port that carries a value, in order (Chunk's chunks).
        helpers: names of the helper functions of :data:`HELPERS` the line calls.
    """

    module: str | None
    rhs: str
    lhs: str = ""
    helpers: tuple[str, ...] = ()


def _module(ctor: str, port: str = "input") -> Callable:
    """A node that is one parameter-free torch.nn module applied to its one input."""
    return lambda p, ins: NodeCode(ctor, f"{{self}}({ins[port]})")


def _built(fn: str, positional=(), defaults=None, port: str = "input") -> Callable:
    def mapping(p, ins):
        return NodeCode(call(fn, p, positional, defaults), f"{{self}}({ins[port]})")
    return mapping


# ----------------------------------------------------------------------------- layers

_CONV = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}
_CONVT = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True,
          "dilation": 1}
_BN = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
_RNN = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
        "bidirectional": False}


def _recurrent(kind: str) -> Callable:
    defaults = dict(_RNN)
    if kind == "RNN":
        defaults = {"num_layers": 1, "nonlinearity": "tanh", **{k: v for k, v in _RNN.items()
                                                                if k != "num_layers"}}

    def mapping(p, ins):
        ctor = call(f"nn.{kind}", p, ("input_size", "hidden_size"), defaults)
        state = ""
        if kind == "LSTM" and "h_0" in ins:
            state = f", ({ins['h_0']}, {ins['c_0']})"
        elif "h_0" in ins:
            state = f", {ins['h_0']}"
        lhs = "{output}, ({h_n}, {c_n})" if kind == "LSTM" else "{output}, {h_n}"
        return NodeCode(ctor, f"{{self}}({ins['input']}{state})", lhs)
    return mapping


def _mha(p, ins):
    ctor = call("nn.MultiheadAttention", p, ("embed_dim", "num_heads"),
                {"dropout": 0.0, "bias": True, "kdim": None, "vdim": None,
                 "batch_first": False})
    args = [ins["query"], ins["key"], ins["value"]]
    if p["is_causal"]:
        axis = 1 if p["batch_first"] else 0
        args.append(f"attn_mask=future_mask({ins['query']}.shape[{axis}])")
    if "attn_weights" not in getattr(ins, "used", {"attn_weights"}):
        args.append("need_weights=False")
    elif not p["average_attn_weights"]:
        args.append("average_attn_weights=False")
    return NodeCode(ctor, f"{{self}}({', '.join(args)})", "{output}, {attn_weights}",
                    helpers=("future_mask",) if p["is_causal"] else ())


def _sdpa(p, ins):
    args = [ins["query"], ins["key"], ins["value"]]
    if p["dropout_p"]:
        args.append(f"dropout_p={lit(p['dropout_p'])} if self.training else 0.0")
    if p["is_causal"]:
        args.append("is_causal=True")
    if p["scale"] is not None:
        args.append(f"scale={lit(p['scale'])}")
    return NodeCode(None, f"F.scaled_dot_product_attention({', '.join(args)})")


_LAYER = {"dim_feedforward": 2048, "dropout": 0.1, "activation": "relu",
          "layer_norm_eps": 1e-5, "batch_first": False, "norm_first": False, "bias": True}


def _transformer(kind: str) -> Callable:
    def mapping(p, ins):
        ctor = call(f"nn.Transformer{kind}Layer", p, ("d_model", "nhead"), _LAYER)
        first = "src" if kind == "Encoder" else "tgt"
        args = [ins[first]] + ([ins["memory"]] if kind == "Decoder" else [])
        causal = p["is_causal"] if kind == "Encoder" else p["tgt_is_causal"]
        if causal:
            axis = 1 if p["batch_first"] else 0
            mask = "src_mask" if kind == "Encoder" else "tgt_mask"
            args.append(f"{mask}=future_mask({ins[first]}.shape[{axis}])")
        return NodeCode(ctor, f"{{self}}({', '.join(args)})",
                        helpers=("future_mask",) if causal else ())
    return mapping


# ---------------------------------------------------------------------------- math

def _binary(op: str) -> Callable:
    return lambda p, ins: NodeCode(None, f"{ins['input']} {op} {ins['other']}")


def _concat(p, ins):
    parts = [ins[k] for k in ("input0", "input1", "input2", "input3") if k in ins]
    return NodeCode(None, f"torch.cat([{', '.join(parts)}], dim={lit(p['dim'])})")


def _chunk(p, ins):
    return NodeCode(None, f"torch.chunk({ins['input']}, {lit(p['chunks'])}, "
                          f"dim={lit(p['dim'])})", "*")


def _reshape(p, ins):
    shape = p["shape"] if isinstance(p["shape"], (list, tuple)) else (p["shape"],)
    x = ins["input"]
    return NodeCode(None, f"{x}.reshape({x}.shape[0], {', '.join(lit(d) for d in shape)})")


def _permute(p, ins):
    order = p["dims"] if isinstance(p["dims"], (list, tuple)) else (p["dims"],)
    return NodeCode(None, f"{ins['input']}.permute({', '.join(lit(d) for d in order)})")


def _mean(p, ins):
    keep = ", keepdim=True" if p["keepdim"] else ""
    return NodeCode(None, f"{ins['input']}.mean(dim={lit(p['dim'])}{keep})")


def _shift_right(p, ins):
    y = ins["input"]
    return NodeCode(None, f"torch.cat([torch.full_like({y}[:, :1], {lit(p['bos'])}), "
                          f"{y}[:, :-1]], dim=1)")


def _seq_attention(cls: str, positional: tuple[str, ...], defaults: dict) -> Callable:
    """AdditiveAttention / LuongAttention: PyTorch has no such modules, so model.py gets
    a small class of each (see :data:`HELPERS`), with the engine's parameter names."""
    def mapping(p, ins):
        args = [ins["query"], ins["key"]] + ([ins["value"]] if "value" in ins else [])
        if "src_tokens" in ins and p["padding_idx"] is not None:
            args.append(f"key_padding_mask={ins['src_tokens']} == {lit(p['padding_idx'])}")
        return NodeCode(call(cls, p, positional, defaults), f"{{self}}({', '.join(args)})",
                        "{output}, {attn_weights}", helpers=(cls, "masked_softmax"))
    return mapping


def _pow(p, ins):
    e = p["exponent"]
    e = int(e) if float(e).is_integer() else e  # x ** 2 keeps negative x finite, as ours
    return NodeCode(None, f"torch.pow({ins['input']}, {lit(e)})")


def _shape(p) -> str:
    shape = p["shape"] if isinstance(p["shape"], (list, tuple)) else (p["shape"],)
    return lit(tuple(shape))


def _noise(p, ins):
    n = f"{ins['reference']}.shape[0]" if "reference" in ins else lit(p["batch_size"])
    return NodeCode(None, f"torch.randn({n}, {lit(p['dim'])})")


MAPPINGS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str]], NodeCode]] = {
    "Linear": lambda p, ins: NodeCode(call("nn.Linear", p, ("in_features", "out_features"),
                                           {"bias": True}), f"{{self}}({ins['input']})"),
    "Embedding": _built("nn.Embedding", ("num_embeddings", "embedding_dim"),
                        {"padding_idx": None}),
    "Flatten": _built("nn.Flatten", (), {"start_dim": 1, "end_dim": -1}),
    "Dropout": _built("nn.Dropout", (), {"p": 0.5}),
    "Identity": _module("nn.Identity()"),
    "Conv2d": _built("nn.Conv2d", ("in_channels", "out_channels", "kernel_size"), _CONV),
    "ConvTranspose2d": _built("nn.ConvTranspose2d",
                              ("in_channels", "out_channels", "kernel_size"), _CONVT),
    "MaxPool2d": _built("nn.MaxPool2d", ("kernel_size",),
                        {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False}),
    "AvgPool2d": _built("nn.AvgPool2d", ("kernel_size",),
                        {"stride": None, "padding": 0, "ceil_mode": False,
                         "count_include_pad": True}),
    "AdaptiveAvgPool2d": _built("nn.AdaptiveAvgPool2d", ("output_size",)),
    "RNN": _recurrent("RNN"),
    "LSTM": _recurrent("LSTM"),
    "GRU": _recurrent("GRU"),
    "MultiheadAttention": _mha,
    "ScaledDotProductAttention": _sdpa,
    "TransformerEncoderLayer": _transformer("Encoder"),
    "TransformerDecoderLayer": _transformer("Decoder"),
    "CausalMask": lambda p, ins: NodeCode(None, f"apply_causal_mask({ins['input']})",
                                          helpers=("apply_causal_mask",)),
    "SinusoidalTable": lambda p, ins: NodeCode(None, f"sinusoidal_table({ins['input']})",
                                               helpers=("sinusoidal_table",)),
    "BatchNorm1d": _built("nn.BatchNorm1d", ("num_features",), _BN),
    "BatchNorm2d": _built("nn.BatchNorm2d", ("num_features",), _BN),
    "LayerNorm": _built("nn.LayerNorm", ("normalized_shape",),
                        {"eps": 1e-5, "elementwise_affine": True, "bias": True}),
    "ReLU": _module("nn.ReLU()"),
    "Sigmoid": _module("nn.Sigmoid()"),
    "Tanh": _module("nn.Tanh()"),
    "Softmax": _built("nn.Softmax", (), {"dim": None}),
    "LogSoftmax": _built("nn.LogSoftmax", (), {"dim": None}),
    "LeakyReLU": _built("nn.LeakyReLU", (), {"negative_slope": 0.01}),
    "ELU": _built("nn.ELU", (), {"alpha": 1.0}),
    "GELU": _built("nn.GELU", (), {"approximate": "none"}),
    "GLU": _built("nn.GLU", (), {"dim": -1}),
    "Softplus": _built("nn.Softplus", (), {"beta": 1.0, "threshold": 20.0}),
    "Add": _binary("+"),
    "Multiply": _binary("*"),
    "Subtract": _binary("-"),
    "Scale": lambda p, ins: NodeCode(None, f"{ins['input']} * {lit(p['scale'])}"),
    "MatMul": lambda p, ins: NodeCode(None, f"torch.matmul({ins['input']}, {ins['other']})"),
    "Concat": _concat,
    "Chunk": _chunk,
    "Reshape": _reshape,
    "Permute": _permute,
    "Mean": _mean,
    "ShiftRight": _shift_right,
    "Log": lambda p, ins: NodeCode(None, f"torch.log({ins['input']})"),
    "Exp": lambda p, ins: NodeCode(None, f"torch.exp({ins['input']})"),
    "Pow": _pow,
    # the tensor itself is the submodule attribute: its state-dict key is the node's id
    "Parameter": lambda p, ins: NodeCode(f"nn.Parameter(torch.zeros({_shape(p)}))", "{self}"),
    "Constant": lambda p, ins: NodeCode(None,
                                        f"torch.full({_shape(p)}, {lit(float(p['value']))})"),
    "Reparameterize": lambda p, ins: NodeCode(
        None, f"{ins['mu']} + torch.exp(0.5 * {ins['logvar']}) * torch.randn_like({ins['mu']})"),
    "NoiseSource": _noise,
    "AdditiveAttention": _seq_attention("AdditiveAttention",
                                        ("query_dim", "key_dim", "attn_dim"), {"bias": True}),
    "LuongAttention": _seq_attention("LuongAttention", ("query_dim", "key_dim"),
                                     {"score": "dot"}),
}

#: Node types written as a bare ``nn.Parameter`` attribute: the engine's state-dict key
#: ``"<node>.<name>"`` is the generated module's ``"<node>"``.
BARE_PARAMETERS = {"Parameter": "weight"}

#: Node types whose output is random: a VAE's sample, a GAN's noise. The exported module
#: runs them in ``forward`` and offers the deterministic parts around them as methods.
RANDOM_TYPES = frozenset({"Reparameterize", "NoiseSource"})

#: The loss node types and the torch.nn class each stands for (named in model.py's notes).
LOSS_CLASSES = {
    "CrossEntropyLoss": "nn.CrossEntropyLoss", "NLLLoss": "nn.NLLLoss",
    "MSELoss": "nn.MSELoss", "L1Loss": "nn.L1Loss", "SmoothL1Loss": "nn.SmoothL1Loss",
    "BCELoss": "nn.BCELoss", "BCEWithLogitsLoss": "nn.BCEWithLogitsLoss",
    "KLDivLoss": "nn.KLDivLoss",
    "GaussianKL": "-0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp()) / N",
}

#: Helper functions written at the top of model.py when a line calls them.
HELPERS = {
    "masked_softmax": '''\
def masked_softmax(scores: torch.Tensor, key_padding_mask=None) -> torch.Tensor:
    """Softmax of scores (N, L, S) over the source, positions where key_padding_mask
    (N, S) is True excluded; a row with every position excluded gets zero weights."""
    if key_padding_mask is not None:
        scores = scores.masked_fill(key_padding_mask[:, None, :], float("-inf"))
    return torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
''',
    "AdditiveAttention": '''\
class AdditiveAttention(nn.Module):
    """Bahdanau attention (Bahdanau, Cho & Bengio 2015, eq. 6):
    e_ts = v . tanh(W_q q_t + W_k k_s + b), a_t = softmax_s(e_t), context c_t = sum_s a_ts v_s.
    query (N, L, query_dim), key (N, S, key_dim), value (N, S, D_v) (default: key).
    PyTorch has none built in; the parameters are named as in DL Playground."""

    def __init__(self, query_dim, key_dim, attn_dim, bias=True):
        super().__init__()
        self.q_proj_weight = nn.Parameter(torch.empty(attn_dim, query_dim))
        self.k_proj_weight = nn.Parameter(torch.empty(attn_dim, key_dim))
        self.bias = nn.Parameter(torch.empty(attn_dim)) if bias else None
        self.v = nn.Parameter(torch.empty(attn_dim))
        for p, fan_in in ((self.q_proj_weight, query_dim), (self.k_proj_weight, key_dim),
                          (self.bias, key_dim), (self.v, attn_dim)):
            if p is not None:
                nn.init.uniform_(p, -fan_in ** -0.5, fan_in ** -0.5)

    def forward(self, query, key, value=None, key_padding_mask=None):
        value = key if value is None else value
        q = query @ self.q_proj_weight.T                      # (N, L, A)
        k = key @ self.k_proj_weight.T                        # (N, S, A)
        if self.bias is not None:
            k = k + self.bias
        scores = torch.tanh(q[:, :, None] + k[:, None]) @ self.v  # (N, L, S)
        weights = masked_softmax(scores, key_padding_mask)
        return weights @ value, weights
''',
    "LuongAttention": '''\
class LuongAttention(nn.Module):
    """Luong attention (Luong, Pham & Manning 2015, eq. 8): score "dot" e_ts = q_t . k_s or
    "general" e_ts = q_t . (W k_s); a_t = softmax_s(e_t), context c_t = sum_s a_ts v_s.
    PyTorch has none built in; the parameters are named as in DL Playground."""

    def __init__(self, query_dim, key_dim, score="dot"):
        super().__init__()
        self.weight = None
        if score == "general":
            self.weight = nn.Parameter(torch.empty(query_dim, key_dim))
            nn.init.uniform_(self.weight, -key_dim ** -0.5, key_dim ** -0.5)

    def forward(self, query, key, value=None, key_padding_mask=None):
        value = key if value is None else value
        projected = key if self.weight is None else key @ self.weight.T  # (N, S, D_q)
        scores = query @ projected.transpose(1, 2)                       # (N, L, S)
        weights = masked_softmax(scores, key_padding_mask)
        return weights @ value, weights
''',
    "future_mask": '''\
def future_mask(length: int) -> torch.Tensor:
    """The (L, L) additive causal mask: 0 where key j <= query i, -inf where j > i."""
    return nn.Transformer.generate_square_subsequent_mask(length)
''',
    "apply_causal_mask": '''\
def apply_causal_mask(scores: torch.Tensor) -> torch.Tensor:
    """Scores (N, *, L, S) with -inf where key j comes after query i (j > i)."""
    length, source = scores.shape[-2:]
    future = torch.ones(length, source, dtype=torch.bool, device=scores.device).triu(1)
    return scores.masked_fill(future, float("-inf"))
''',
    "sinusoidal_table": '''\
def sinusoidal_table(x: torch.Tensor) -> torch.Tensor:
    """The positional-encoding table (L, E) for x (N, L, E) (Vaswani et al. 2017, §3.5):
    PE[pos, 2i] = sin(pos / 10000^(2i/E)), PE[pos, 2i+1] = cos(pos / 10000^(2i/E))."""
    length, d_model = x.shape[1], x.shape[2]
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64)
                    * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)[:, :d_model // 2]
    return table.to(x.dtype)
''',
}
