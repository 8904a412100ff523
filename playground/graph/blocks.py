"""The composite blocks of the palette's "Blocks" group, written as data against the node
types' names (which are PyTorch's class names).

Each block's params follow torchvision / torch, so its parameter count equals theirs:

================================  ==========================================================
ResNetBasicBlock                  torchvision ``BasicBlock(inplanes, planes, stride)``
ResNetBottleneck                  torchvision ``Bottleneck`` (expansion 4, stride on the 3×3)
BasicConv2d                       GoogLeNet's conv (no bias) + BatchNorm (eps 0.001) + ReLU
Inception                         torchvision GoogLeNet ``Inception`` (its "5×5" branch is a
                                  3×3 conv, as in torchvision)
VGGBlock                          ``num_convs`` × (3×3 conv, padding 1, ReLU), MaxPool 2
DenseLayer / DenseBlock           torchvision ``_DenseLayer`` / ``_DenseBlock`` (BN-ReLU-conv1×1
                                  to bn_size·growth_rate, BN-ReLU-conv3×3 to growth_rate,
                                  concatenated to the input)
DenseTransition                   torchvision ``_Transition``: BN-ReLU-conv1×1-AvgPool 2
LSTMCellBlock                     ``nn.LSTMCell``: gates i, f, g, o as separate nodes
GRUCellBlock                      ``nn.GRUCell``: gates r, z, n as separate nodes
MultiheadAttentionBlock           ``nn.MultiheadAttention`` (batch_first): Q/K/V projections,
                                  scores QKᵀ/√d, causal mask, softmax, weighted sum, output
                                  projection
SinusoidalPositionalEncoding      Vaswani et al. 2017 §3.5: x + PE
TransformerEncoderBlock           ``nn.TransformerEncoderLayer`` (post-norm, ReLU)
TransformerDecoderBlock           ``nn.TransformerDecoderLayer`` (post-norm, ReLU)
================================  ==========================================================

A block's open and closed forms compute the same values and gradients (tests/graph/
test_composite.py); its parameters are named ``"<block id>/<local id>.<param>"``.

The primitives the blocks are drawn with that no layer needs on its own live with their
categories: ``Scale`` and ``Subtract`` in ``nodes/math.py``, ``CausalMask`` and
``SinusoidalTable`` in ``nodes/attention.py``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from . import nodes as _nodes  # noqa: F401  (registers the primitives the blocks use)
from .composite import Builder, register_block
from .spec import REGISTRY, ParamSpec, PortSpec, Registry, ShapeError

# ------------------------------------------------------------------------------- helpers


def _int(name, default, doc, low=1, high=100_000):
    return ParamSpec(name, "int", default, doc, low=low, high=high)


def _register_checked(check, *args, **kwargs):
    """:func:`register_block` with ``check(params, inputs)``, which the model runs before it
    infers the inside: for a rule between params that the inside cannot show (raises
    ShapeError with a fix)."""
    spec = register_block(*args, registry=Registry(), **kwargs)
    return REGISTRY.register(replace(spec, infer=check))


def _heads_check(embed: str, heads: str):
    """``embed`` must be a multiple of ``heads`` (each head gets embed/heads dims), as
    ``nn.MultiheadAttention`` asserts. The fix is the nearest divisor of ``embed`` below."""
    def check(p, inputs):
        e, h = p[embed], p[heads]
        if e % h:
            fix = max(k for k in range(1, min(e, h) + 1) if e % k == 0)
            raise ShapeError(f"needs {embed} divisible by {heads} (each head gets "
                             f"{embed}/{heads} dims), got {embed}={e}, {heads}={h}. "
                             f"Set {heads}={fix}.", fix=(heads, fix))
        return {}
    return check


_IMG_IN = (PortSpec("input", "tensor", "x: (N, C_in, H, W)"),)
_IMG_OUT = (PortSpec("output", "tensor", "y: (N, C_out, H', W')"),)

# ---------------------------------------------------------------------------------- ResNet


def _resnet_basic(p):
    cin, planes, stride = p["in_channels"], p["planes"], p["stride"]
    b = Builder()
    x = b.input("input", "x: (N, in_channels, H, W)")
    h = b.add("conv1", "Conv2d", in_channels=cin, out_channels=planes, kernel_size=3,
              stride=stride, padding=1, bias=False, input=x)
    h = b.add("bn1", "BatchNorm2d", num_features=planes, input=h)
    h = b.add("relu1", "ReLU", input=h)
    h = b.add("conv2", "Conv2d", in_channels=planes, out_channels=planes, kernel_size=3,
              padding=1, bias=False, input=h)
    h = b.add("bn2", "BatchNorm2d", num_features=planes, input=h)
    short = x
    if stride != 1 or cin != planes:
        short = b.add("downsample_conv", "Conv2d", in_channels=cin, out_channels=planes,
                      kernel_size=1, stride=stride, bias=False, input=x)
        short = b.add("downsample_bn", "BatchNorm2d", num_features=planes, input=short)
    h = b.add("add", "Add", input=h, other=short)
    h = b.add("relu2", "ReLU", input=h)
    b.output("output", h, "y: (N, planes, H/stride, W/stride)")
    return b.build()


register_block(
    "ResNetBasicBlock", "ResNet basic block: two 3×3 convs with a residual connection.",
    _IMG_IN, _IMG_OUT,
    (_int("in_channels", 64, "channels C_in of the input"),
     _int("planes", 64, "channels of both convs and of the output"),
     _int("stride", 1, "stride of the first conv (2 halves H and W)", high=4)),
    _resnet_basic, id_stem="block",
    doc="y = ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x)); shortcut = 1×1 conv + BN when "
        "the shape changes (He et al. 2016)")


def _resnet_bottleneck(p):
    cin, planes, stride = p["in_channels"], p["planes"], p["stride"]
    out = planes * 4
    b = Builder()
    x = b.input("input", "x: (N, in_channels, H, W)")
    h = b.add("conv1", "Conv2d", in_channels=cin, out_channels=planes, kernel_size=1,
              bias=False, input=x)
    h = b.add("bn1", "BatchNorm2d", num_features=planes, input=h)
    h = b.add("relu1", "ReLU", input=h)
    h = b.add("conv2", "Conv2d", in_channels=planes, out_channels=planes, kernel_size=3,
              stride=stride, padding=1, bias=False, input=h)
    h = b.add("bn2", "BatchNorm2d", num_features=planes, input=h)
    h = b.add("relu2", "ReLU", input=h)
    h = b.add("conv3", "Conv2d", in_channels=planes, out_channels=out, kernel_size=1,
              bias=False, input=h)
    h = b.add("bn3", "BatchNorm2d", num_features=out, input=h)
    short = x
    if stride != 1 or cin != out:
        short = b.add("downsample_conv", "Conv2d", in_channels=cin, out_channels=out,
                      kernel_size=1, stride=stride, bias=False, input=x)
        short = b.add("downsample_bn", "BatchNorm2d", num_features=out, input=short)
    h = b.add("add", "Add", input=h, other=short)
    h = b.add("relu3", "ReLU", input=h)
    b.output("output", h, "y: (N, 4·planes, H/stride, W/stride)")
    return b.build()


register_block(
    "ResNetBottleneck", "ResNet bottleneck: 1×1 reduce, 3×3, 1×1 expand (×4), residual.",
    _IMG_IN, _IMG_OUT,
    (_int("in_channels", 256, "channels C_in of the input"),
     _int("planes", 64, "width of the 1×1 and 3×3 convs; the output has 4·planes channels"),
     _int("stride", 1, "stride of the 3×3 conv (2 halves H and W)", high=4)),
    _resnet_bottleneck, id_stem="block",
    doc="torchvision's ResNet v1.5 bottleneck: the stride sits on the 3×3 conv")

# --------------------------------------------------------------------------- GoogLeNet


def _basic_conv(p):
    b = Builder()
    x = b.input("input", "x: (N, in_channels, H, W)")
    h = b.add("conv", "Conv2d", in_channels=p["in_channels"], out_channels=p["out_channels"],
              kernel_size=p["kernel_size"], stride=p["stride"], padding=p["padding"],
              bias=False, input=x)
    h = b.add("bn", "BatchNorm2d", num_features=p["out_channels"], eps=0.001, input=h)
    h = b.add("relu", "ReLU", input=h)
    b.output("output", h, "y: (N, out_channels, H', W')")
    return b.build()


register_block(
    "BasicConv2d", "GoogLeNet's conv unit: conv (no bias), BatchNorm (eps 0.001), ReLU.",
    _IMG_IN, _IMG_OUT,
    (_int("in_channels", 64, "channels of the input"),
     _int("out_channels", 64, "channels of the output"),
     _int("kernel_size", 1, "square kernel size", high=11),
     _int("stride", 1, "stride", high=4),
     _int("padding", 0, "zero padding on each side", low=0, high=10)),
    _basic_conv, id_stem="conv_bn")


def _inception(p):
    cin = p["in_channels"]
    b = Builder()
    x = b.input("input", "x: (N, in_channels, H, W)")

    def conv(local, c_in, c_out, k, src):
        return b.add(local, "BasicConv2d", in_channels=c_in, out_channels=c_out,
                     kernel_size=k, padding=k // 2, input=src)

    b1 = conv("branch1", cin, p["ch1x1"], 1, x)
    b2 = conv("branch2_reduce", cin, p["ch3x3red"], 1, x)
    b2 = conv("branch2", p["ch3x3red"], p["ch3x3"], 3, b2)
    b3 = conv("branch3_reduce", cin, p["ch5x5red"], 1, x)
    b3 = conv("branch3", p["ch5x5red"], p["ch5x5"], 3, b3)  # torchvision: 3×3, not 5×5
    b4 = b.add("branch4_pool", "MaxPool2d", kernel_size=3, stride=1, padding=1,
               ceil_mode=True, input=x)
    b4 = conv("branch4", cin, p["pool_proj"], 1, b4)
    h = b.add("concat", "Concat", dim=1, input0=b1, input1=b2, input2=b3, input3=b4)
    b.output("output", h, "y: (N, ch1x1+ch3x3+ch5x5+pool_proj, H, W)")
    return b.build()


register_block(
    "Inception", "Inception module: 1×1, 3×3, \"5×5\" and pool branches, concatenated.",
    _IMG_IN, _IMG_OUT,
    (_int("in_channels", 192, "channels of the input"),
     _int("ch1x1", 64, "1×1 branch channels"),
     _int("ch3x3red", 96, "1×1 reduction before the 3×3 branch"),
     _int("ch3x3", 128, "3×3 branch channels"),
     _int("ch5x5red", 16, "1×1 reduction before the \"5×5\" branch"),
     _int("ch5x5", 32, "\"5×5\" branch channels (a 3×3 conv, as in torchvision)"),
     _int("pool_proj", 32, "1×1 projection after the 3×3 max pool")),
    _inception, id_stem="inception",
    doc="Szegedy et al. 2015 (GoogLeNet), as torchvision builds it (inception3a defaults)")

# --------------------------------------------------------------------------------- VGG


def _vgg(p):
    b = Builder()
    h = b.input("input", "x: (N, in_channels, H, W)")
    c = p["in_channels"]
    for i in range(1, p["num_convs"] + 1):
        h = b.add(f"conv{i}", "Conv2d", in_channels=c, out_channels=p["out_channels"],
                  kernel_size=3, padding=1, input=h)
        if p["batch_norm"]:
            h = b.add(f"bn{i}", "BatchNorm2d", num_features=p["out_channels"], input=h)
        h = b.add(f"relu{i}", "ReLU", input=h)
        c = p["out_channels"]
    h = b.add("pool", "MaxPool2d", kernel_size=2, stride=2, input=h)
    b.output("output", h, "y: (N, out_channels, H/2, W/2)")
    return b.build()


register_block(
    "VGGBlock", "VGG block: 3×3 convs (padding 1) with ReLU, then 2×2 max pool.",
    _IMG_IN, _IMG_OUT,
    (_int("in_channels", 64, "channels of the input"),
     _int("out_channels", 128, "channels of every conv"),
     _int("num_convs", 2, "number of 3×3 convs", high=8),
     ParamSpec("batch_norm", "bool", False, "BatchNorm after each conv (VGG-BN)")),
    _vgg, id_stem="vgg", doc="Simonyan & Zisserman 2015")

# ----------------------------------------------------------------------------- DenseNet


def _dense_layer(p):
    cin, growth, bn_size = p["in_channels"], p["growth_rate"], p["bn_size"]
    b = Builder()
    x = b.input("input", "x: (N, in_channels, H, W)")
    h = b.add("norm1", "BatchNorm2d", num_features=cin, input=x)
    h = b.add("relu1", "ReLU", input=h)
    h = b.add("conv1", "Conv2d", in_channels=cin, out_channels=bn_size * growth,
              kernel_size=1, bias=False, input=h)
    h = b.add("norm2", "BatchNorm2d", num_features=bn_size * growth, input=h)
    h = b.add("relu2", "ReLU", input=h)
    h = b.add("conv2", "Conv2d", in_channels=bn_size * growth, out_channels=growth,
              kernel_size=3, padding=1, bias=False, input=h)
    h = b.add("concat", "Concat", dim=1, input0=x, input1=h)
    b.output("output", h, "y: (N, in_channels + growth_rate, H, W)")
    return b.build()


_DENSE_PARAMS = (_int("in_channels", 64, "channels of the input"),
                 _int("growth_rate", 32, "channels each layer adds (k)"),
                 _int("bn_size", 4, "bottleneck width, in multiples of growth_rate", high=16))

register_block(
    "DenseLayer", "DenseNet layer: BN-ReLU-1×1 conv, BN-ReLU-3×3 conv, concatenated to x.",
    _IMG_IN, _IMG_OUT, _DENSE_PARAMS, _dense_layer, id_stem="dense_layer",
    doc="Huang et al. 2017; torchvision _DenseLayer (drop_rate 0)")


def _dense_block(p):
    b = Builder()
    h = b.input("input", "x: (N, in_channels, H, W)")
    c = p["in_channels"]
    for i in range(1, p["num_layers"] + 1):
        h = b.add(f"denselayer{i}", "DenseLayer", in_channels=c, growth_rate=p["growth_rate"],
                  bn_size=p["bn_size"], input=h)
        c += p["growth_rate"]
    b.output("output", h, "y: (N, in_channels + num_layers·growth_rate, H, W)")
    return b.build()


register_block(
    "DenseBlock", "DenseNet block: num_layers dense layers, each seeing all before it.",
    _IMG_IN, _IMG_OUT,
    (_int("num_layers", 6, "dense layers in the block", high=64), *_DENSE_PARAMS),
    _dense_block, id_stem="dense_block",
    doc="cat(x, l1(x), l2(cat(x, l1(x))), ...) as chained DenseLayers")


def _transition(p):
    b = Builder()
    x = b.input("input", "x: (N, in_channels, H, W)")
    h = b.add("norm", "BatchNorm2d", num_features=p["in_channels"], input=x)
    h = b.add("relu", "ReLU", input=h)
    h = b.add("conv", "Conv2d", in_channels=p["in_channels"], out_channels=p["out_channels"],
              kernel_size=1, bias=False, input=h)
    h = b.add("pool", "AvgPool2d", kernel_size=2, stride=2, input=h)
    b.output("output", h, "y: (N, out_channels, H/2, W/2)")
    return b.build()


register_block(
    "DenseTransition", "DenseNet transition: BN-ReLU-1×1 conv, then 2×2 average pool.",
    _IMG_IN, _IMG_OUT,
    (_int("in_channels", 256, "channels of the input"),
     _int("out_channels", 128, "channels of the output (usually half)")),
    _transition, id_stem="transition")

# ------------------------------------------------------------------------------ recurrent


def _lstm_cell(p):
    i_size, h_size, bias = p["input_size"], p["hidden_size"], p["bias"]
    b = Builder()
    x = b.input("input", "x_t: (N, input_size)")
    h = b.input("h", "h_{t-1}: (N, hidden_size)")
    c = b.input("c", "c_{t-1}: (N, hidden_size)")
    gates = {}
    for g, act in (("i", "Sigmoid"), ("f", "Sigmoid"), ("g", "Tanh"), ("o", "Sigmoid")):
        wx = b.add(f"W_i{g}", "Linear", in_features=i_size, out_features=h_size, bias=bias,
                   input=x)
        wh = b.add(f"W_h{g}", "Linear", in_features=h_size, out_features=h_size, bias=bias,
                   input=h)
        s = b.add(f"{g}_sum", "Add", input=wx, other=wh)
        gates[g] = b.add(f"{g}_gate", act, input=s)
    fc = b.add("f_times_c", "Multiply", input=gates["f"], other=c)
    ig = b.add("i_times_g", "Multiply", input=gates["i"], other=gates["g"])
    c_new = b.add("c_new", "Add", input=fc, other=ig)
    tc = b.add("tanh_c", "Tanh", input=c_new)
    h_new = b.add("h_new", "Multiply", input=gates["o"], other=tc)
    b.output("h_new", h_new, "h_t: (N, hidden_size)")
    b.output("c_new", c_new, "c_t: (N, hidden_size)")
    return b.build()


register_block(
    "LSTMCellBlock", "One LSTM step with its gates as nodes: i, f, g, o; c' = f·c + i·g.",
    (PortSpec("input", "tensor", "x_t: (N, input_size)"),
     PortSpec("h", "tensor", "h_{t-1}: (N, hidden_size)"),
     PortSpec("c", "tensor", "c_{t-1}: (N, hidden_size)")),
    (PortSpec("h_new", "tensor", "h_t: (N, hidden_size)"),
     PortSpec("c_new", "tensor", "c_t: (N, hidden_size)")),
    (_int("input_size", 8, "features of x_t"), _int("hidden_size", 16, "features of h and c"),
     ParamSpec("bias", "bool", True, "biases b_i* and b_h* (as nn.LSTMCell)")),
    _lstm_cell, id_stem="lstm_cell",
    doc="i,f,o = σ(W_i·x + b_i + W_h·h + b_h), g = tanh(...), c' = f⊙c + i⊙g, "
        "h' = o⊙tanh(c') (Hochreiter & Schmidhuber 1997; torch's gate order)")


def _gru_cell(p):
    i_size, h_size, bias = p["input_size"], p["hidden_size"], p["bias"]
    b = Builder()
    x = b.input("input", "x_t: (N, input_size)")
    h = b.input("h", "h_{t-1}: (N, hidden_size)")
    lin = {}
    for g in ("r", "z", "n"):
        lin[f"i{g}"] = b.add(f"W_i{g}", "Linear", in_features=i_size, out_features=h_size,
                             bias=bias, input=x)
        lin[f"h{g}"] = b.add(f"W_h{g}", "Linear", in_features=h_size, out_features=h_size,
                             bias=bias, input=h)
    r = b.add("r_gate", "Sigmoid", input=b.add("r_sum", "Add", input=lin["ir"], other=lin["hr"]))
    z = b.add("z_gate", "Sigmoid", input=b.add("z_sum", "Add", input=lin["iz"], other=lin["hz"]))
    rh = b.add("r_times_hn", "Multiply", input=r, other=lin["hn"])
    n = b.add("n_gate", "Tanh", input=b.add("n_sum", "Add", input=lin["in"], other=rh))
    diff = b.add("h_minus_n", "Subtract", input=h, other=n)
    zd = b.add("z_times_diff", "Multiply", input=z, other=diff)
    h_new = b.add("h_new", "Add", input=n, other=zd)
    b.output("h_new", h_new, "h_t: (N, hidden_size)")
    return b.build()


register_block(
    "GRUCellBlock", "One GRU step with its gates as nodes: r, z, n; h' = (1−z)·n + z·h.",
    (PortSpec("input", "tensor", "x_t: (N, input_size)"),
     PortSpec("h", "tensor", "h_{t-1}: (N, hidden_size)")),
    (PortSpec("h_new", "tensor", "h_t: (N, hidden_size)"),),
    (_int("input_size", 8, "features of x_t"), _int("hidden_size", 16, "features of h"),
     ParamSpec("bias", "bool", True, "biases b_i* and b_h* (as nn.GRUCell)")),
    _gru_cell, id_stem="gru_cell",
    doc="r,z = σ(W_i·x + b_i + W_h·h + b_h), n = tanh(W_in·x + b_in + r⊙(W_hn·h + b_hn)), "
        "h' = n + z⊙(h − n) = (1−z)⊙n + z⊙h (Cho et al. 2014; torch's gate order)")

# ------------------------------------------------------------------------------ attention


def _heads(b: Builder, prefix: str, src, heads: int, head_dim: int, order: tuple):
    """(N, L, E) -> (N, L, h, d) -> permuted by ``order``."""
    h = b.add(f"{prefix}_split", "Reshape", shape=(-1, heads, head_dim), input=src)
    return b.add(f"{prefix}_heads", "Permute", dims=order, input=h)


def _mha_into(b: Builder, p, q_in, k_in, v_in, prefix: str = ""):
    e, heads = p["embed_dim"], p["num_heads"]
    d = max(e // heads, 1)  # below 1 the block's check reports the error
    q = b.add(f"{prefix}q_proj", "Linear", in_features=e, out_features=e, bias=p["bias"],
              input=q_in)
    k = b.add(f"{prefix}k_proj", "Linear", in_features=e, out_features=e, bias=p["bias"],
              input=k_in)
    v = b.add(f"{prefix}v_proj", "Linear", in_features=e, out_features=e, bias=p["bias"],
              input=v_in)
    q = _heads(b, f"{prefix}q", q, heads, d, (0, 2, 1, 3))          # (N, h, L, d)
    k = _heads(b, f"{prefix}k", k, heads, d, (0, 2, 3, 1))          # (N, h, d, S)
    v = _heads(b, f"{prefix}v", v, heads, d, (0, 2, 1, 3))          # (N, h, S, d)
    s = b.add(f"{prefix}scores", "MatMul", input=q, other=k)        # (N, h, L, S)
    s = b.add(f"{prefix}scale", "Scale", scale=1.0 / math.sqrt(d), input=s)
    if p.get("is_causal"):
        s = b.add(f"{prefix}causal_mask", "CausalMask", input=s)
    w = b.add(f"{prefix}softmax", "Softmax", dim=-1, input=s)
    a = w
    if p.get("dropout", 0.0) > 0:
        a = b.add(f"{prefix}attn_dropout", "Dropout", p=p["dropout"], input=w)
    o = b.add(f"{prefix}weighted_sum", "MatMul", input=a, other=v)  # (N, h, L, d)
    o = b.add(f"{prefix}merge_heads", "Permute", dims=(0, 2, 1, 3), input=o)
    o = b.add(f"{prefix}concat_heads", "Reshape", shape=(-1, e), input=o)
    o = b.add(f"{prefix}out_proj", "Linear", in_features=e, out_features=e, bias=p["bias"],
              input=o)
    return o, w


def _mha(p):
    b = Builder()
    q = b.input("query", "(N, L, embed_dim)")
    k = b.input("key", "(N, S, embed_dim)")
    v = b.input("value", "(N, S, embed_dim)")
    o, w = _mha_into(b, p, q, k, v)
    b.output("output", o, "(N, L, embed_dim)")
    b.output("attn_weights", w, "(N, num_heads, L, S), per head")
    return b.build()


_ATTN_PARAMS = (_int("embed_dim", 16, "model width E (divisible by num_heads)"),
                _int("num_heads", 2, "attention heads h; each has E/h dims", high=64))

_register_checked(
    _heads_check("embed_dim", "num_heads"),
    "MultiheadAttentionBlock",
    "Multi-head attention from its parts: projections, QKᵀ/√d, mask, softmax, ·V, output.",
    (PortSpec("query", "tensor", "(N, L, E)"), PortSpec("key", "tensor", "(N, S, E)"),
     PortSpec("value", "tensor", "(N, S, E)")),
    (PortSpec("output", "tensor", "(N, L, E)"),
     PortSpec("attn_weights", "tensor", "(N, h, L, S)")),
    (*_ATTN_PARAMS,
     ParamSpec("dropout", "float", 0.0, "dropout on the attention weights", low=0.0, high=1.0),
     ParamSpec("bias", "bool", True, "biases of the four projections"),
     ParamSpec("is_causal", "bool", False, "each query sees only keys at or before it")),
    _mha, id_stem="mha",
    doc="softmax(Q Kᵀ/√d + mask) V per head, heads concatenated and projected "
        "(Vaswani et al. 2017, §3.2; nn.MultiheadAttention with batch_first=True)")


def _posenc(p):
    b = Builder()
    x = b.input("input", "x: (N, L, d_model)")
    pe = b.add("table", "SinusoidalTable", input=x)
    h = b.add("add", "Add", input=x, other=pe)
    if p["dropout"] > 0:
        h = b.add("dropout", "Dropout", p=p["dropout"], input=h)
    b.output("output", h, "x + PE: (N, L, d_model)")
    return b.build()


register_block(
    "SinusoidalPositionalEncoding", "Adds the fixed sin/cos position table to a sequence.",
    (PortSpec("input", "tensor", "x: (N, L, E)"),), (PortSpec("output", "tensor", "(N, L, E)"),),
    (ParamSpec("dropout", "float", 0.0, "dropout after the addition", low=0.0, high=1.0),),
    _posenc, id_stem="pos_enc",
    doc="PE[pos, 2i] = sin(pos/10000^(2i/E)), PE[pos, 2i+1] = cos(...) (Vaswani et al. 2017)")


def _add_norm(b: Builder, name: str, x, sub, p):
    if p["dropout"] > 0:
        sub = b.add(f"{name}_dropout", "Dropout", p=p["dropout"], input=sub)
    h = b.add(f"{name}_add", "Add", input=x, other=sub)
    return b.add(f"{name}_norm", "LayerNorm", normalized_shape=p["d_model"],
                 eps=p["layer_norm_eps"], input=h)


def _ffn(b: Builder, x, p):
    h = b.add("linear1", "Linear", in_features=p["d_model"], out_features=p["dim_feedforward"],
              input=x)
    h = b.add("ff_relu", "ReLU", input=h)
    if p["dropout"] > 0:  # torch's `dropout`; `ff_dropout` is the one after linear2
        h = b.add("dropout", "Dropout", p=p["dropout"], input=h)
    return b.add("linear2", "Linear", in_features=p["dim_feedforward"],
                 out_features=p["d_model"], input=h)


def _attn_params(p, causal):
    return {"embed_dim": p["d_model"], "num_heads": p["nhead"], "bias": True,
            "dropout": p["dropout"], "is_causal": causal}


def _encoder(p):
    b = Builder()
    x = b.input("src", "(N, L, d_model)")
    a = b.add("self_attn", "MultiheadAttentionBlock", **_attn_params(p, p["is_causal"]),
              query=x, key=x, value=x)
    h = _add_norm(b, "attn", x, a["output"], p)
    h = _add_norm(b, "ff", h, _ffn(b, h, p), p)
    b.output("output", h, "(N, L, d_model)")
    return b.build()


_TRANSFORMER_PARAMS = (
    _int("d_model", 16, "model width E"), _int("nhead", 2, "attention heads", high=64),
    _int("dim_feedforward", 64, "hidden width of the feed-forward net", high=100_000),
    ParamSpec("dropout", "float", 0.0, "dropout after attention and in the feed-forward net",
              low=0.0, high=1.0),
    ParamSpec("layer_norm_eps", "float", 1e-5, "LayerNorm's eps", low=0.0, high=1.0,
              log_scale=True))

_register_checked(
    _heads_check("d_model", "nhead"),
    "TransformerEncoderBlock",
    "Transformer encoder layer: self-attention, add & norm, feed-forward, add & norm.",
    (PortSpec("src", "tensor", "(N, L, d_model)"),), (PortSpec("output", "tensor",
                                                               "(N, L, d_model)"),),
    (*_TRANSFORMER_PARAMS,
     ParamSpec("is_causal", "bool", False, "mask future positions in self-attention")),
    _encoder, id_stem="encoder",
    doc="x = LN(x + SA(x)); x = LN(x + FF(x)) (post-norm, as nn.TransformerEncoderLayer "
        "with batch_first=True, activation relu)")


def _decoder(p):
    b = Builder()
    x = b.input("tgt", "(N, L, d_model)")
    mem = b.input("memory", "(N, S, d_model)")
    a = b.add("self_attn", "MultiheadAttentionBlock", **_attn_params(p, True),
              query=x, key=x, value=x)
    h = _add_norm(b, "self", x, a["output"], p)
    c = b.add("cross_attn", "MultiheadAttentionBlock", **_attn_params(p, False),
              query=h, key=mem, value=mem)
    h = _add_norm(b, "cross", h, c["output"], p)
    h = _add_norm(b, "ff", h, _ffn(b, h, p), p)
    b.output("output", h, "(N, L, d_model)")
    return b.build()


_register_checked(
    _heads_check("d_model", "nhead"),
    "TransformerDecoderBlock",
    "Transformer decoder layer: causal self-attention, cross-attention on memory, "
    "feed-forward; add & norm after each.",
    (PortSpec("tgt", "tensor", "(N, L, d_model)"), PortSpec("memory", "tensor",
                                                            "(N, S, d_model)")),
    (PortSpec("output", "tensor", "(N, L, d_model)"),),
    _TRANSFORMER_PARAMS, _decoder, id_stem="decoder",
    doc="x = LN(x + SA(x, causal)); x = LN(x + CA(x, memory)); x = LN(x + FF(x)) "
        "(post-norm, as nn.TransformerDecoderLayer with batch_first=True, "
        "tgt_is_causal=True)")
