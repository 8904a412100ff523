"""Convolution: Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.

Shapes: N batch, C channels, H/W height and width; K kernel size, S stride, P padding,
D dilation (each an int or an (H, W) pair).

Output size, the textbook formula (Dumoulin & Visin, "A guide to convolution arithmetic
for deep learning", 2016, relationship 6, as PyTorch's Conv2d documents it)::

    H' = floor((H + 2P - D*(K - 1) - 1) / S) + 1      (= (H - K + 2P)/S + 1 for D = 1)

and for a transposed convolution (ibid., relationship 14)::

    H' = (H - 1)*S - 2P + D*(K - 1) + output_padding + 1

Costs per example (N = 1):

* Conv2d: params ``C_out*(C_in/groups)*K_H*K_W + C_out`` (the bias term when bias=True);
  MACs ``C_out*H'*W'*(C_in/groups)*K_H*K_W``: every output value is a dot product over
  (C_in/groups)*K_H*K_W inputs.
* ConvTranspose2d: params ``C_in*(C_out/groups)*K_H*K_W + C_out``; MACs
  ``C_in*H*W*(C_out/groups)*K_H*K_W``: every input value is scattered into
  (C_out/groups)*K_H*K_W outputs.
* Pooling: 0 params and 0 MACs. Convention: MACs count multiply-accumulates with weights
  (as torchvision's published GFLOPS, which count convolutions and linear layers); pooling
  takes maxima or sums without weights.
"""

from __future__ import annotations

import math

from playground.engine import nn

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import fmt, mismatch, need, pair, tensor
from ._init import INIT_PARAMS

_SIZE = dict(low=1, high=4096)


def _image(inputs, what="feature maps (N, C_in, H, W)", channels: int | None = None) -> tuple:
    """The (N, C, H, W) input; a message with a Reshape to try when it is not 4-D."""
    src = tensor(need(inputs, "input", what), "input")
    if len(src.shape) == 4 and src.shape[0] is None:
        return src
    hint = "Add a Reshape to (C, H, W) before it"
    if len(src.shape) == 2 and src.shape[1] is not None:
        c = channels or 1
        side = math.isqrt(src.shape[1] // c) if src.shape[1] % c == 0 else 0
        if side and c * side * side == src.shape[1]:
            hint = f"Add a Reshape with shape=({c}, {side}, {side}) before it"
    raise ShapeError(f"expects {what}, got {format_shape(src.shape)} from '{src.node}'. "
                     f"{hint}.")


def _conv_formula(h, k, s, p, d) -> str:
    return f"floor(({h} + 2*{p} - {d}*({k}-1) - 1)/{s}) + 1"


def window_out(h: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """Output size of a sliding window (convolution or pooling) along one dim:
    ``floor((H + 2P - D*(K-1) - 1)/S) + 1`` (ceil instead of floor with ``ceil_mode``, and
    then, as PyTorch, a last window that would start in the right padding is dropped)."""
    span = h + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= h + p:
        out -= 1
    return out


def _windows(p, src, kernel_param: str, fix_with: str, ceil_mode: bool = False,
             stride=None) -> tuple[int, int]:
    """(H', W') of a convolution or pooling window over ``src`` (N, C, H, W).

    Raises a ShapeError with the computed size when the kernel does not fit the padded
    input. The fix is more padding (``fix_with="padding"``) or a smaller kernel."""
    hw = src.shape[2:]
    k, st = pair(p[kernel_param]), pair(stride if stride is not None else p["stride"])
    pad, dil = pair(p["padding"]), pair(p.get("dilation", 1))
    out = [window_out(hw[i], k[i], st[i], pad[i], dil[i], ceil_mode) for i in range(2)]
    for i, name in enumerate("HW"):
        if out[i] >= 1:
            continue
        formula = _conv_formula(hw[i], k[i], st[i], pad[i], dil[i])
        if fix_with == "padding":
            need_pad = [max(pad[j], -(-(dil[j] * (k[j] - 1) + 1 - hw[j]) // 2)) for j in range(2)]
            value = need_pad[0] if need_pad[0] == need_pad[1] else tuple(need_pad)
        else:  # a smaller kernel: the largest that fits the padded input
            fit = [min(k[j], (hw[j] + 2 * pad[j] - 1) // dil[j] + 1) for j in range(2)]
            value = fit[0] if fit[0] == fit[1] else tuple(fit)
        raise ShapeError(
            f"{kernel_param}={fmt(p[kernel_param])} does not fit the {hw[0]}x{hw[1]} input from "
            f"'{src.node}': {name}' = floor(({name} + 2P - D*(K-1) - 1)/S) + 1 = {formula} = "
            f"{out[i]}. Set {fix_with}={fmt(value)}.", fix=(fix_with, value))
    return out[0], out[1]


def _check_groups(p) -> None:
    g = p["groups"]
    for name in ("in_channels", "out_channels"):
        if p[name] % g:
            common = math.gcd(p["in_channels"], p["out_channels"], g)
            raise ShapeError(f"has {name}={p[name]}, which is not divisible by groups={g} (each "
                             f"group convolves in_channels/groups channels into "
                             f"out_channels/groups). Set groups={common}.", fix=("groups", common))


# ---------------------------------------------------------------------------------- Conv2d


def _conv2d_infer(p, inputs):
    src = _image(inputs, channels=p["in_channels"])
    _check_groups(p)
    if src.shape[1] != p["in_channels"]:
        raise mismatch("{} input channels", "in_channels", p["in_channels"], src, 1)
    h, w = _windows(p, src, "kernel_size", "padding")
    return {"output": (None, p["out_channels"], h, w)}


def _groups_text(g: int, c: str, n: int) -> tuple[str, str]:
    return (f"({c}/groups)", f"({n}/{g})") if g != 1 else (c, str(n))


def _conv2d_cost(p, ins, outs) -> Cost:
    ci, co, g = p["in_channels"], p["out_channels"], p["groups"]
    kh, kw = pair(p["kernel_size"])
    _, _, ho, wo = outs["output"]
    cin_s, cin_n = _groups_text(g, "C_in", ci)
    params = co * (ci // g) * kh * kw + (co if p["bias"] else 0)
    bias_s, bias_n = (" + C_out", f" + {co}") if p["bias"] else ("", "")
    pf = f"C_out*{cin_s}*K_H*K_W{bias_s} = {co}*{cin_n}*{kh}*{kw}{bias_n}"
    macs = co * ho * wo * (ci // g) * kh * kw
    mf = f"C_out*H'*W'*{cin_s}*K_H*K_W = {co}*{ho}*{wo}*{cin_n}*{kh}*{kw}"
    return Cost(params, macs, pf, mf)


_CONV_PARAMS = (
    ParamSpec("in_channels", "int", 1, "channels of the input image", low=1, high=100_000),
    ParamSpec("out_channels", "int", 8, "channels produced (one kernel each)", low=1,
              high=100_000),
    ParamSpec("kernel_size", "ints", 3, "kernel height and width: an int or (K_H, K_W)",
              length=2, **_SIZE),
    ParamSpec("stride", "ints", 1, "step between windows: an int or (S_H, S_W)", length=2,
              **_SIZE),
    ParamSpec("padding", "ints", 0, "zeros added on each side: an int or (P_H, P_W)", length=2,
              low=0, high=4096),
)

REGISTRY.register(NodeSpec(
    type="Conv2d",
    category="Convolution",
    description="2-D convolution: slides C_out learned kernels over the input channels.",
    inputs=(PortSpec("input", "tensor", "x: (N, C_in, H, W)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, C_out, H', W')"),),
    params=_CONV_PARAMS + (
        ParamSpec("dilation", "ints", 1, "spacing between kernel taps: an int or (D_H, D_W)",
                  length=2, **_SIZE),
        ParamSpec("groups", "int", 1, "split the channels into groups convolved separately "
                                      "(in_channels: depthwise)", low=1, high=100_000),
        ParamSpec("bias", "bool", True, "learn one bias per output channel"),
        *INIT_PARAMS,
    ),
    infer=_conv2d_infer,
    build=lambda p, ins: nn.Conv2d(p["in_channels"], p["out_channels"], p["kernel_size"],
                                   stride=p["stride"], padding=p["padding"],
                                   dilation=p["dilation"], groups=p["groups"], bias=p["bias"]),
    cost=_conv2d_cost,
    doc="H' = floor((H + 2P - D*(K-1) - 1)/S) + 1",
))

# ------------------------------------------------------------------------- ConvTranspose2d


def transposed_out(h: int, k: int, s: int, p: int, op: int, d: int = 1) -> int:
    """``H' = (H - 1)*S - 2P + D*(K - 1) + output_padding + 1``."""
    return (h - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv_transpose2d_infer(p, inputs):
    src = _image(inputs, channels=p["in_channels"])
    _check_groups(p)
    if src.shape[1] != p["in_channels"]:
        raise mismatch("{} input channels", "in_channels", p["in_channels"], src, 1)
    k, s, pad = pair(p["kernel_size"]), pair(p["stride"]), pair(p["padding"])
    op, d = pair(p["output_padding"]), pair(p["dilation"])
    for i in range(2):
        if op[i] >= max(s[i], d[i]):
            raise ShapeError(f"has output_padding={fmt(p['output_padding'])}, but it must be "
                             f"smaller than stride={fmt(p['stride'])} or dilation="
                             f"{fmt(p['dilation'])}. Set output_padding=0.",
                             fix=("output_padding", 0))
    out = []
    for i, name in enumerate("HW"):
        h = src.shape[2 + i]
        o = transposed_out(h, k[i], s[i], pad[i], op[i], d[i])
        if o < 1:
            best = ((h - 1) * s[i] + d[i] * (k[i] - 1) + op[i]) // 2
            raise ShapeError(
                f"padding={fmt(p['padding'])} crops away all of the {src.shape[2]}x"
                f"{src.shape[3]} input from '{src.node}': {name}' = ({name} - 1)*S - 2P + "
                f"D*(K-1) + output_padding + 1 = ({h}-1)*{s[i]} - 2*{pad[i]} + {d[i]}*"
                f"({k[i]}-1) + {op[i]} + 1 = {o}. Set padding={best}.", fix=("padding", best))
        out.append(o)
    return {"output": (None, p["out_channels"], *out)}


def _conv_transpose2d_cost(p, ins, outs) -> Cost:
    ci, co, g = p["in_channels"], p["out_channels"], p["groups"]
    kh, kw = pair(p["kernel_size"])
    _, _, h, w = ins["input"]
    cout_s, cout_n = _groups_text(g, "C_out", co)
    params = ci * (co // g) * kh * kw + (co if p["bias"] else 0)
    bias_s, bias_n = (" + C_out", f" + {co}") if p["bias"] else ("", "")
    pf = f"C_in*{cout_s}*K_H*K_W{bias_s} = {ci}*{cout_n}*{kh}*{kw}{bias_n}"
    macs = ci * h * w * (co // g) * kh * kw
    mf = f"C_in*H*W*{cout_s}*K_H*K_W = {ci}*{h}*{w}*{cout_n}*{kh}*{kw}"
    return Cost(params, macs, pf, mf)


REGISTRY.register(NodeSpec(
    type="ConvTranspose2d",
    category="Convolution",
    description="Transposed 2-D convolution: upsamples, each input value paints a kernel "
                "into the output.",
    inputs=(PortSpec("input", "tensor", "x: (N, C_in, H, W)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, C_out, H', W')"),),
    params=_CONV_PARAMS + (
        ParamSpec("output_padding", "ints", 0, "extra rows/columns added to one side of the "
                                               "output (< stride)", length=2, low=0, high=4096),
        ParamSpec("groups", "int", 1, "split the channels into groups convolved separately",
                  low=1, high=100_000),
        ParamSpec("bias", "bool", True, "learn one bias per output channel"),
        ParamSpec("dilation", "ints", 1, "spacing between kernel taps", length=2, **_SIZE),
        *INIT_PARAMS,
    ),
    infer=_conv_transpose2d_infer,
    build=lambda p, ins: nn.ConvTranspose2d(
        p["in_channels"], p["out_channels"], p["kernel_size"], stride=p["stride"],
        padding=p["padding"], output_padding=p["output_padding"], groups=p["groups"],
        bias=p["bias"], dilation=p["dilation"]),
    cost=_conv_transpose2d_cost,
    doc="H' = (H - 1)*S - 2P + D*(K-1) + output_padding + 1",
))

# ---------------------------------------------------------------------------------- pooling


def _pool_infer(p, inputs):
    src = _image(inputs, "feature maps (N, C, H, W)")
    k, pad = pair(p["kernel_size"]), pair(p["padding"])
    if any(pad[i] > k[i] // 2 for i in range(2)):
        half = k[0] // 2 if k[0] // 2 == k[1] // 2 else (k[0] // 2, k[1] // 2)
        raise ShapeError(f"has padding={fmt(p['padding'])}, but a pooling window may be padded "
                         f"by at most half its kernel_size={fmt(p['kernel_size'])}. Set "
                         f"padding={fmt(half)}.", fix=("padding", half))
    stride = p["stride"] if p["stride"] is not None else p["kernel_size"]
    h, w = _windows(p, src, "kernel_size", "kernel_size", p["ceil_mode"], stride=stride)
    return {"output": (None, src.shape[1], h, w)}


def _pool_cost(p, ins, outs) -> Cost:
    return Cost(0, 0, "0", "0 (no weights: maxima or sums only)")


_POOL_PARAMS = (
    ParamSpec("kernel_size", "ints", 2, "window height and width: an int or (K_H, K_W)",
              length=2, **_SIZE),
    ParamSpec("stride", "ints", None, "step between windows (None: kernel_size)", length=2,
              optional=True, **_SIZE),
    ParamSpec("padding", "ints", 0, "padding on each side (at most kernel_size/2)", length=2,
              low=0, high=2048),
)

REGISTRY.register(NodeSpec(
    type="MaxPool2d",
    category="Convolution",
    description="Max pooling: the largest value of each window, per channel.",
    inputs=(PortSpec("input", "tensor", "x: (N, C, H, W)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, C, H', W')"),),
    params=_POOL_PARAMS + (
        ParamSpec("dilation", "ints", 1, "spacing between window taps", length=2, **_SIZE),
        ParamSpec("ceil_mode", "bool", False, "round H' up instead of down (keep a last "
                                              "partial window)"),
    ),
    infer=_pool_infer,
    build=lambda p, ins: nn.MaxPool2d(p["kernel_size"], stride=p["stride"],
                                      padding=p["padding"], dilation=p["dilation"],
                                      ceil_mode=p["ceil_mode"]),
    cost=_pool_cost,
    doc="H' = floor((H + 2P - D*(K-1) - 1)/S) + 1",
))

REGISTRY.register(NodeSpec(
    type="AvgPool2d",
    category="Convolution",
    description="Average pooling: the mean of each window, per channel.",
    inputs=(PortSpec("input", "tensor", "x: (N, C, H, W)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, C, H', W')"),),
    params=_POOL_PARAMS + (
        ParamSpec("ceil_mode", "bool", False, "round H' up instead of down (keep a last "
                                              "partial window)"),
        ParamSpec("count_include_pad", "bool", True, "count the padding zeros in each mean"),
    ),
    infer=_pool_infer,
    build=lambda p, ins: nn.AvgPool2d(p["kernel_size"], stride=p["stride"],
                                      padding=p["padding"], ceil_mode=p["ceil_mode"],
                                      count_include_pad=p["count_include_pad"]),
    cost=_pool_cost,
    doc="H' = floor((H + 2P - K)/S) + 1",
))


def _adaptive_infer(p, inputs):
    src = _image(inputs, "feature maps (N, C, H, W)")
    return {"output": (None, src.shape[1], *pair(p["output_size"]))}


REGISTRY.register(NodeSpec(
    type="AdaptiveAvgPool2d",
    category="Convolution",
    description="Average pooling to a fixed output size, whatever the input size "
                "(1: global average pooling).",
    inputs=(PortSpec("input", "tensor", "x: (N, C, H, W)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, C, H_out, W_out)"),),
    params=(ParamSpec("output_size", "ints", 1, "output height and width: an int or "
                                                "(H_out, W_out)", length=2, **_SIZE),),
    infer=_adaptive_infer,
    build=lambda p, ins: nn.AdaptiveAvgPool2d(p["output_size"]),
    cost=_pool_cost,
))

__all__ = ["window_out", "transposed_out"]
