"""Normalisation: BatchNorm1d, BatchNorm2d, LayerNorm, as PyTorch's.

Shapes: N batch, C channels (num_features), L length, H/W height and width.

Costs per example (N = 1):

* BatchNorm: params ``2*C`` (the affine weight γ and bias β) with ``affine=True``, else 0.
  The running mean and variance are buffers, not parameters, and are not counted (as
  torchvision's ``num_params`` and torchinfo count only parameters).
* LayerNorm: params ``2*prod(normalized_shape)`` with ``elementwise_affine`` (one if
  ``bias=False``), else 0.
* MACs 0. Convention: MACs count multiply-accumulates with weights in convolutions, linear
  layers, recurrences and attention, as torchvision's published GFLOPS; a normalisation is
  an elementwise scale and shift and is not counted.
"""

from __future__ import annotations

from math import prod

from playground.engine import nn

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import dims, fmt, mismatch, need, tensor


def _batchnorm_infer(ranks: tuple[int, ...], layout: str):
    def infer(p, inputs):
        src = tensor(need(inputs, "input", f"a batch {layout}"), "input")
        if len(src.shape) not in ranks or src.shape[0] is not None:
            other = "BatchNorm2d" if 4 not in ranks else "BatchNorm1d"
            raise ShapeError(f"expects {layout}, got {format_shape(src.shape)} from "
                             f"'{src.node}'. Use {other} for this input, or reshape it.")
        if src.shape[1] != p["num_features"]:
            raise mismatch("num_features={} channels", "num_features", p["num_features"], src, 1)
        return {"output": src.shape}
    return infer


def _batchnorm_cost(p, ins, outs) -> Cost:
    c = p["num_features"]
    if not p["affine"]:
        return Cost(0, 0, "0 (affine=False; running stats are buffers)", "0")
    return Cost(2 * c, 0, f"2*C = 2*{c}", "0 (elementwise)")


_BN_PARAMS = (
    ParamSpec("num_features", "int", 8, "channels C (dim 1 of the input)", low=1,
              high=1_000_000),
    ParamSpec("eps", "float", 1e-5, "added to the variance for stability", low=0.0, high=1.0),
    ParamSpec("momentum", "float", 0.1, "weight of the new batch in the running statistics "
                                        "(None: a cumulative average)", low=0.0, high=1.0,
              optional=True),
    ParamSpec("affine", "bool", True, "learn a scale γ and shift β per channel"),
    ParamSpec("track_running_stats", "bool", True, "keep running mean and variance for eval "
                                                   "mode"),
)


def _bn_build(cls_name: str):
    def build(p, ins):
        return getattr(nn, cls_name)(p["num_features"], eps=p["eps"], momentum=p["momentum"],
                                     affine=p["affine"],
                                     track_running_stats=p["track_running_stats"])
    return build


REGISTRY.register(NodeSpec(
    type="BatchNorm1d",
    category="Normalisation",
    description="Batch normalisation of features (N, C) or sequences (N, C, L): each channel "
                "to zero mean and unit variance over the batch, then scaled and shifted.",
    inputs=(PortSpec("input", "tensor", "x: (N, C) or (N, C, L)"),),
    outputs=(PortSpec("output", "tensor", "y: same shape"),),
    params=_BN_PARAMS,
    infer=_batchnorm_infer((2, 3), "(N, C) or (N, C, L)"),
    build=_bn_build("BatchNorm1d"),
    cost=_batchnorm_cost,
    doc="y = (x - mean_B) / sqrt(var_B + eps) * γ + β (Ioffe & Szegedy 2015)",
))

REGISTRY.register(NodeSpec(
    type="BatchNorm2d",
    category="Normalisation",
    description="Batch normalisation of feature maps (N, C, H, W): each channel to zero mean "
                "and unit variance over batch and space, then scaled and shifted.",
    inputs=(PortSpec("input", "tensor", "x: (N, C, H, W)"),),
    outputs=(PortSpec("output", "tensor", "y: same shape"),),
    params=_BN_PARAMS,
    infer=_batchnorm_infer((4,), "(N, C, H, W)"),
    build=_bn_build("BatchNorm2d"),
    cost=_batchnorm_cost,
    doc="y = (x - mean_B) / sqrt(var_B + eps) * γ + β (Ioffe & Szegedy 2015)",
))


def _layernorm_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor (N, *, normalized_shape)"), "input")
    shape = dims(p["normalized_shape"])
    tail = tuple(src.shape[-len(shape):]) if len(shape) <= len(src.shape) else None
    if tail != shape:
        got = tuple(src.shape[-len(shape):])
        fix = got[0] if len(got) == 1 else got
        if None in got or len(shape) >= len(src.shape):
            fix = src.shape[-1]
        raise ShapeError(f"expects its input to end in normalized_shape="
                         f"{fmt(p['normalized_shape'])}, got {format_shape(src.shape)} from "
                         f"'{src.node}'. Set normalized_shape={fmt(fix)}.",
                         fix=("normalized_shape", fix))
    return {"output": src.shape}


def _layernorm_cost(p, ins, outs) -> Cost:
    shape = dims(p["normalized_shape"])
    n = prod(shape)
    sym = "prod(normalized_shape)" if len(shape) > 1 else "E"
    num = "*".join(map(str, shape))
    if not p["elementwise_affine"]:
        return Cost(0, 0, "0 (elementwise_affine=False)", "0")
    if not p["bias"]:
        return Cost(n, 0, f"{sym} = {num}", "0 (elementwise)")
    return Cost(2 * n, 0, f"2*{sym} = 2*{num}", "0 (elementwise)")


REGISTRY.register(NodeSpec(
    type="LayerNorm",
    category="Normalisation",
    description="Layer normalisation: each example's last dims to zero mean and unit variance, "
                "then scaled and shifted.",
    inputs=(PortSpec("input", "tensor", "x: (N, *, normalized_shape)"),),
    outputs=(PortSpec("output", "tensor", "y: same shape"),),
    params=(
        ParamSpec("normalized_shape", "ints", 16, "the trailing dims to normalise over (an "
                                                  "int: the last dim)", low=1, high=1_000_000),
        ParamSpec("eps", "float", 1e-5, "added to the variance for stability", low=0.0,
                  high=1.0),
        ParamSpec("elementwise_affine", "bool", True, "learn a scale γ (and shift β) per "
                                                      "element"),
        ParamSpec("bias", "bool", True, "learn the shift β (with elementwise_affine)"),
    ),
    infer=_layernorm_infer,
    build=lambda p, ins: nn.LayerNorm(p["normalized_shape"], eps=p["eps"],
                                      elementwise_affine=p["elementwise_affine"],
                                      bias=p["bias"]),
    cost=_layernorm_cost,
    doc="y = (x - mean) / sqrt(var + eps) * γ + β over the last dims (Ba et al. 2016)",
))
