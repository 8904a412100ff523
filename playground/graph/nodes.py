"""The node types of the canvas, one declarative :class:`NodeSpec` each.

Every message a spec raises says what it expected, what it got and from where, and one fix.
The inference pass prefixes it with the node's type and name ("Linear 'fc2' ...").
"""

from __future__ import annotations

from functools import lru_cache
from math import prod

from playground import data as datasets
from playground.engine import nn

from .spec import (REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, Source,
                   format_shape)

# --------------------------------------------------------------------------------- helpers


@lru_cache(maxsize=16)
def load_dataset(name: str, n_samples: int, noise: float, seed: int) -> datasets.Dataset:
    """Load (and cache) a dataset by its Dataset-node params. Shared by inference and the
    session so that a dataset is generated once."""
    return datasets.load(name, n_samples=n_samples, noise=noise, seed=seed)


def dataset_of(params) -> datasets.Dataset:
    return load_dataset(params["dataset"], params["n_samples"], params["noise"], params["seed"])


def _need(inputs: dict[str, Source], port: str, what: str) -> Source:
    src = inputs.get(port)
    if src is None:
        raise ShapeError(f"has nothing wired into its '{port}' port: connect {what}.")
    return src


def _tensor(src: Source, port: str) -> Source:
    if len(src.shape) == 1:  # (N,) labels
        raise ShapeError(f"'{port}' got class labels {format_shape(src.shape)} from '{src.node}'"
                         f".{src.port}; it needs a float tensor. Wire '{src.node}'.input "
                         "(not .target) here.")
    return src


def _no_cost(params, ins, outs) -> Cost:
    return Cost(0, 0, "0", "0")


# ------------------------------------------------------------------------------------ Data


def _dataset_infer(p, inputs):
    try:
        ds = dataset_of(p)
    except (ValueError, KeyError, OSError) as exc:
        raise ShapeError(f"cannot load its data: {exc}") from None
    shapes = {"input": (None, *ds.feature_shape), "target": (None,)}
    return shapes, {"target": {"num_classes": ds.num_classes}}


REGISTRY.register(NodeSpec(
    type="Dataset",
    category="Data",
    description="A dataset: its outputs are the input batch and the class targets.",
    outputs=(PortSpec("input", "tensor", "x: (N, *features) float32 batch"),
             PortSpec("target", "index", "y: (N,) int64 class indices")),
    params=(
        ParamSpec("dataset", "choice", "spirals", "which dataset", choices=tuple(datasets.names())),
        ParamSpec("n_samples", "int", 400, "examples in the training split (2-D toys)",
                  low=4, high=100_000),
        ParamSpec("noise", "float", 0.1, "std of the noise added to the 2-D toys", low=0.0, high=1.0),
        ParamSpec("seed", "int", 0, "seed the toy data is generated from", low=0, high=2**31 - 1),
    ),
    infer=_dataset_infer,
    build=None,
    cost=_no_cost,
))

# ---------------------------------------------------------------------------------- Layers


def _linear_infer(p, inputs):
    src = _tensor(_need(inputs, "input", "a tensor (N, *, in_features)"), "input")
    got = src.shape[-1]
    if got != p["in_features"]:
        hint = f", or change {src.node}.out_features" if src.node_type == "Linear" else ""
        raise ShapeError(f"expects in_features={p['in_features']}, got {got} from "
                         f"'{src.node}'. Set in_features={got}{hint}.",
                         fix=("in_features", got))
    return {"output": (*src.shape[:-1], p["out_features"])}


def _linear_cost(p, ins, outs) -> Cost:
    i, o, bias = p["in_features"], p["out_features"], p["bias"]
    extra = prod(d for d in ins["input"][1:-1])  # (N, *, in): each * position is one GEMV
    params = i * o + (o if bias else 0)
    pf = f"in_features*out_features{' + out_features' if bias else ''} = {i}*{o}" + \
         (f" + {o}" if bias else "")
    mf = f"in_features*out_features = {i}*{o}" if extra == 1 else \
        f"positions*in_features*out_features = {extra}*{i}*{o}"
    return Cost(params, extra * i * o, pf, mf)


REGISTRY.register(NodeSpec(
    type="Linear",
    category="Layers",
    description="Fully connected layer: y = x Wᵀ + b.",
    inputs=(PortSpec("input", "tensor", "x: (N, *, in_features)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, *, out_features)"),),
    params=(
        ParamSpec("in_features", "int", 2, "size of each input sample", low=1, high=1_000_000),
        ParamSpec("out_features", "int", 16, "size of each output sample", low=1,
                  high=1_000_000),
        ParamSpec("bias", "bool", True, "learn an additive bias b"),
    ),
    infer=_linear_infer,
    build=lambda p, ins: nn.Linear(p["in_features"], p["out_features"], bias=p["bias"]),
    cost=_linear_cost,
))

# ----------------------------------------------------------------------------- Activations


def _same_shape(p, inputs):
    src = _tensor(_need(inputs, "input", "a tensor"), "input")
    return {"output": src.shape}


def _activation(type_, module, description, formula):
    REGISTRY.register(NodeSpec(
        type=type_,
        category="Activations",
        description=description,
        inputs=(PortSpec("input", "tensor", "x: any shape"),),
        outputs=(PortSpec("output", "tensor", "y: same shape as x"),),
        infer=_same_shape,
        build=lambda p, ins: module(),
        cost=_no_cost,
        doc=formula,
    ))


_activation("ReLU", nn.ReLU, "Rectified linear unit: max(0, x).", "y = max(0, x)")
_activation("Sigmoid", nn.Sigmoid, "Logistic sigmoid: 1 / (1 + e^-x).", "y = 1/(1+exp(-x))")
_activation("Tanh", nn.Tanh, "Hyperbolic tangent, output in (-1, 1).", "y = tanh(x)")


def _softmax_infer(p, inputs):
    src = _tensor(_need(inputs, "input", "a tensor"), "input")
    nd = len(src.shape)
    if not -nd <= p["dim"] < nd:
        raise ShapeError(f"dim={p['dim']} is out of range for a {nd}-D input "
                         f"{format_shape(src.shape)} from '{src.node}'. Set dim=-1.",
                         fix=("dim", -1))
    return {"output": src.shape}


REGISTRY.register(NodeSpec(
    type="Softmax",
    category="Activations",
    description="Softmax over a dim: probabilities that sum to 1.",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=(PortSpec("output", "tensor", "y: same shape, sums to 1 along dim"),),
    params=(ParamSpec("dim", "int", -1, "dimension the probabilities sum over", low=-8, high=8),),
    infer=_softmax_infer,
    build=lambda p, ins: nn.Softmax(dim=p["dim"]),
    cost=_no_cost,
))

# ---------------------------------------------------------------------------------- Losses


def _ce_infer(p, inputs):
    src = _tensor(_need(inputs, "input", "logits (N, C), e.g. the last Linear"), "input")
    tgt = _need(inputs, "target", "class indices (N,), e.g. the Dataset's target")
    if len(src.shape) != 2:
        raise ShapeError(f"expects logits (N, C), got {format_shape(src.shape)} from "
                         f"'{src.node}'. Add a Flatten or Linear before it.")
    if len(tgt.shape) != 1:
        raise ShapeError(f"expects class indices (N,) as target, got "
                         f"{format_shape(tgt.shape)} from '{tgt.node}'. Wire a Dataset's "
                         "'target' port here.")
    classes = src.shape[1]
    want = (tgt.meta or {}).get("num_classes")
    if want is not None and classes != want:
        fix = f"Set {src.node}.out_features={want}" if src.node_type == "Linear" else \
            f"Make '{src.node}' output {want} values"
        raise ShapeError(f"gets {classes} class scores from '{src.node}', but the targets "
                         f"from '{tgt.node}' have {want} classes. {fix}.")
    return {"output": ()}


def _mse_infer(p, inputs):
    src = _tensor(_need(inputs, "input", "the prediction"), "input")
    tgt = _need(inputs, "target", "a target of the same shape")
    if len(tgt.shape) == 1 and len(src.shape) != 1:
        raise ShapeError(f"needs a target shaped like its input {format_shape(src.shape)}, "
                         f"but '{tgt.node}'.{tgt.port} gives class indices "
                         f"{format_shape(tgt.shape)}. Use CrossEntropyLoss for class labels.")
    if tgt.shape != src.shape:
        raise ShapeError(f"needs input and target of one shape; got "
                         f"{format_shape(src.shape)} from '{src.node}' and "
                         f"{format_shape(tgt.shape)} from '{tgt.node}'.")
    return {"output": ()}


REGISTRY.register(NodeSpec(
    type="CrossEntropyLoss",
    category="Losses",
    description="Softmax + negative log-likelihood of the true class, averaged over N.",
    inputs=(PortSpec("input", "tensor", "logits: (N, C)"),
            PortSpec("target", "index", "class indices: (N,)")),
    outputs=(PortSpec("output", "scalar", "loss: ()"),),
    infer=_ce_infer,
    build=lambda p, ins: nn.CrossEntropyLoss(),
    cost=_no_cost,
    is_loss=True,
    doc="L = -mean_n log softmax(x_n)[y_n]",
))

REGISTRY.register(NodeSpec(
    type="MSELoss",
    category="Losses",
    description="Mean squared error between input and target.",
    inputs=(PortSpec("input", "tensor", "prediction: any shape"),
            PortSpec("target", "tensor", "target: same shape")),
    outputs=(PortSpec("output", "scalar", "loss: ()"),),
    infer=_mse_infer,
    build=lambda p, ins: nn.MSELoss(),
    cost=_no_cost,
    is_loss=True,
    doc="L = mean((x - y)^2)",
))
