"""Losses: CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, BCELoss,
BCEWithLogitsLoss, KLDivLoss, GaussianKL. Each outputs a scalar that is added into the
training loss.

CrossEntropyLoss and NLLLoss take a class per example, (N, C) scores with (N,) targets, or a
class per position, (N, C, L) with (N, L) (the class dim second, as PyTorch; 'mean' averages
over every position).

``reduction`` offers 'mean' and 'sum' (KLDivLoss also 'batchmean'): PyTorch's 'none' gives a
tensor, and a loss node must output a scalar. 0 params, 0 MACs.
"""

from __future__ import annotations

import numpy as np

from playground.engine import Tensor, nn
from playground.engine import functional as F

from ..spec import REGISTRY, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import Lambda, adapted, need, no_cost, tensor

_SCALAR = (PortSpec("output", "scalar", "loss: ()"),)


def _reduction(default="mean", choices=("mean", "sum"), doc=None):
    return ParamSpec("reduction", "choice", default, doc or "'mean': average over the "
                     "elements; 'sum': their sum", choices=choices)


def _loss(type_, description, inputs, infer, build, params=(), doc=""):
    REGISTRY.register(NodeSpec(
        type=type_,
        category="Losses",
        description=description,
        inputs=inputs,
        outputs=_SCALAR,
        params=tuple(params),
        infer=infer,
        build=build,
        cost=no_cost,
        is_loss=True,
        doc=doc,
    ))


# --------------------------------------------------------------------- class-index targets


def _class_infer(what: str, fix_word: str):
    """(N, C) scores with (N,) targets, or (N, C, d1, ...) with (N, d1, ...): a class per
    position, the class dim second, as PyTorch."""
    def infer(p, inputs):
        src = tensor(need(inputs, "input", f"{what} (N, C), e.g. the last Linear"), "input")
        tgt = need(inputs, "target", "class indices (N,), e.g. the Dataset's target")
        per_position = len(tgt.shape) > 1
        if not per_position and len(src.shape) != 2:
            raise ShapeError(f"expects {what} (N, C), got {format_shape(src.shape)} from "
                             f"'{src.node}'. Add a Flatten or Linear before it.")
        if not per_position and src.shape[0] != tgt.shape[0]:
            rows = lambda d: "N" if d is None else f"{d:,}"  # noqa: E731
            raise ShapeError(f"gets {rows(src.shape[0])} rows of {what} from '{src.node}' but "
                             f"{rows(tgt.shape[0])} targets from '{tgt.node}': each target "
                             f"needs its own row, so '{src.node}' must keep the data's batch "
                             "dim N in dim 0.")
        if per_position:
            layout = "(N, C, " + ", ".join(f"d{i}" for i in range(1, len(tgt.shape))) + ")"
            if len(src.shape) == 3 and len(tgt.shape) == 2:
                layout = "(N, C, L)"
            if tuple(src.shape[:-1]) == tuple(tgt.shape) and len(src.shape) == 3:
                raise ShapeError(f"expects {what} {layout} for the targets "
                                 f"{format_shape(tgt.shape)} from '{tgt.node}' (the classes in "
                                 f"dim 1, as PyTorch), got {format_shape(src.shape)} from "
                                 f"'{src.node}'. Add a Permute with dims=(0, 2, 1) before it.")
            if len(src.shape) != len(tgt.shape) + 1 or \
                    tuple(src.shape[:1] + src.shape[2:]) != tuple(tgt.shape):
                raise ShapeError(f"expects {what} {layout} for the targets "
                                 f"{format_shape(tgt.shape)} from '{tgt.node}', got "
                                 f"{format_shape(src.shape)} from '{src.node}'. Give "
                                 f"'{src.node}' one score per class at every position.")
        classes = src.shape[1]
        want = (tgt.meta or {}).get("num_classes")
        if want is not None and classes != want:
            fix = f"Set {src.node}.out_features={want}" if src.node_type == "Linear" else \
                f"Make '{src.node}' output {want} values"
            raise ShapeError(f"gets {classes} {fix_word} from '{src.node}', but the targets "
                             f"from '{tgt.node}' have {want} classes. {fix}.")
        return {"output": ()}
    return infer


def _per_position(base, self, input, target):
    """(N, C, d1, ...) scores and (N, d1, ...) targets as (N*d1*..., C) and (N*d1*...,):
    the same mean over every position and the same sum as PyTorch."""
    if input.ndim > 2:
        c = input.shape[1]
        order = (0, *range(2, input.ndim), 1)
        input = input.permute(*order).reshape((-1, c))
        target = (target.data if isinstance(target, Tensor) else np.asarray(target)).reshape(-1)
    return base(self, input, target)


def _class_loss(cls_name: str):
    def build(p, ins):
        cls = getattr(nn, cls_name)
        if len(ins["input"]) > 2:
            cls = adapted(cls, f"{cls_name}Node", _per_position)
        return cls(reduction=p["reduction"])
    return build


_CLASS_INPUTS = (PortSpec("input", "tensor", "logits: (N, C), or (N, C, L) per position"),
                 PortSpec("target", "index", "class indices: (N,), or (N, L)"))

_loss("CrossEntropyLoss", "Softmax + negative log-likelihood of the true class, averaged "
      "over N.", _CLASS_INPUTS, _class_infer("logits", "class scores"),
      _class_loss("CrossEntropyLoss"), (_reduction(),),
      "L = -mean_n log softmax(x_n)[y_n]")

_loss("NLLLoss", "Negative log-likelihood of the true class, for log-probabilities (after "
      "LogSoftmax).",
      (PortSpec("input", "tensor", "log-probabilities: (N, C), or (N, C, L) per position"),
       PortSpec("target", "index", "class indices: (N,), or (N, L)")),
      _class_infer("log-probabilities", "class log-probabilities"),
      _class_loss("NLLLoss"), (_reduction(),),
      "L = -mean_n x_n[y_n]")

# ---------------------------------------------------------------- same-shape float targets


def _paired_infer(hint: str):
    def infer(p, inputs):
        src = tensor(need(inputs, "input", "the prediction"), "input")
        tgt = need(inputs, "target", "a target of the same shape")
        if len(tgt.shape) == 1 and len(src.shape) != 1:
            raise ShapeError(f"needs a target shaped like its input {format_shape(src.shape)}, "
                             f"but '{tgt.node}'.{tgt.port} gives class indices "
                             f"{format_shape(tgt.shape)}. {hint}")
        if tgt.shape != src.shape:
            raise ShapeError(f"needs input and target of one shape; got "
                             f"{format_shape(src.shape)} from '{src.node}' and "
                             f"{format_shape(tgt.shape)} from '{tgt.node}'.")
        return {"output": ()}
    return infer


_CE_HINT = "Use CrossEntropyLoss for class labels."


def _paired_inputs(what: str, target: str):
    return (PortSpec("input", "tensor", f"{what}: any shape"),
            PortSpec("target", "tensor", f"{target}: same shape"))


_loss("MSELoss", "Mean squared error between input and target.",
      _paired_inputs("prediction", "target"), _paired_infer(_CE_HINT),
      lambda p, ins: nn.MSELoss(reduction=p["reduction"]), (_reduction(),),
      "L = mean((x - y)^2)")

_loss("L1Loss", "Mean absolute error between input and target.",
      _paired_inputs("prediction", "target"), _paired_infer(_CE_HINT),
      lambda p, ins: nn.L1Loss(reduction=p["reduction"]), (_reduction(),),
      "L = mean(|x - y|)")

_loss("SmoothL1Loss", "Huber-like loss: squared for small errors, absolute for large ones.",
      _paired_inputs("prediction", "target"), _paired_infer(_CE_HINT),
      lambda p, ins: nn.SmoothL1Loss(reduction=p["reduction"], beta=p["beta"]),
      (_reduction(), ParamSpec("beta", "float", 1.0, "where the loss turns from squared to "
                                                     "absolute", low=0.0, high=1e6)),
      "l = 0.5 d^2/beta if |d| < beta else |d| - 0.5 beta; L = mean(l)")

#: Node types whose output is not a probability in [0, 1], with the range it can take.
_NOT_PROBABILITIES = {
    **dict.fromkeys(("Linear", "Conv2d", "ConvTranspose2d", "Add", "Subtract", "Scale",
                     "MatMul", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding",
                     "NoiseSource", "Reparameterize", "GELU", "LeakyReLU", "ELU"),
                   "any real number"),
    "ReLU": "any number ≥ 0", "Softplus": "any number > 0", "Tanh": "numbers in [-1, 1]",
    "LogSoftmax": "log-probabilities ≤ 0",
}


def _bce_infer(p, inputs):
    """BCELoss's log(x) and log(1 - x) need x in [0, 1]: refuse an input that cannot be a
    probability at inference, not at the first step (torch raises then too)."""
    out = _paired_infer("Use CrossEntropyLoss for class labels, or feed 0/1 targets as "
                        "floats.")(p, inputs)
    src = inputs["input"]
    what = _NOT_PROBABILITIES.get(src.node_type)
    if what is not None:
        raise ShapeError(f"needs probabilities in [0, 1], but '{src.node}' is a "
                         f"{src.node_type}, whose output is {what}. Put a Sigmoid before "
                         "it, or use BCEWithLogitsLoss, which takes logits.")
    return out


_loss("BCELoss", "Binary cross-entropy between probabilities in [0, 1] (after a Sigmoid) and "
      "0/1 targets.",
      _paired_inputs("probabilities", "targets in [0, 1]"),
      _bce_infer,
      lambda p, ins: nn.BCELoss(reduction=p["reduction"]), (_reduction(),),
      "L = -mean(y log x + (1-y) log(1-x))")

_loss("BCEWithLogitsLoss", "Sigmoid + binary cross-entropy in one stable step, on logits.",
      _paired_inputs("logits", "targets in [0, 1]"),
      _paired_infer("Use CrossEntropyLoss for class labels, or feed 0/1 targets as floats."),
      lambda p, ins: nn.BCEWithLogitsLoss(reduction=p["reduction"]), (_reduction(),),
      "L = -mean(y log σ(x) + (1-y) log(1-σ(x)))")

_loss("KLDivLoss", "KL divergence KL(p || q) with input = log q and target = p.",
      _paired_inputs("log-probabilities log q", "probabilities p (or log p with log_target)"),
      _paired_infer("Wire probabilities of the same shape as the input."),
      lambda p, ins: nn.KLDivLoss(reduction=p["reduction"], log_target=p["log_target"]),
      (_reduction("mean", ("mean", "batchmean", "sum"),
                  "'batchmean': sum / N, the KL per example; 'mean': over all elements (torch's "
                  "default); 'sum'"),
       ParamSpec("log_target", "bool", False, "the target is given as log p")),
      "L = sum p (log p - log q), reduced")

# ------------------------------------------------------------------------------ GaussianKL


def _gaussian_kl_infer(p, inputs):
    mu = tensor(need(inputs, "mu", "the encoder's means (N, D)"), "mu")
    logvar = tensor(need(inputs, "logvar", "the encoder's log variances (N, D)"), "logvar")
    if mu.shape != logvar.shape:
        raise ShapeError(f"needs mu and logvar of one shape; got {format_shape(mu.shape)} from "
                         f"'{mu.node}' and {format_shape(logvar.shape)} from '{logvar.node}'. "
                         "Give both encoder heads the same out_features.")
    return {"output": ()}


_loss("GaussianKL", "VAE regulariser: KL of the encoder's Gaussian N(mu, e^logvar) from the "
      "standard normal, in closed form.",
      (PortSpec("mu", "tensor", "means: (N, D)"),
       PortSpec("logvar", "tensor", "log variances: (N, D)")),
      _gaussian_kl_infer,
      lambda p, ins: Lambda(lambda mu, logvar: F.gaussian_kl(mu, logvar,
                                                             reduction=p["reduction"]),
                            f"reduction={p['reduction']!r}"),
      (_reduction("batchmean", ("batchmean", "sum", "mean"),
                  "'batchmean': the KL summed over D, averaged over N (the ELBO's term per "
                  "example); 'sum': over everything; 'mean': over all elements"),),
      "KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)) (Kingma & Welling 2014, "
      "App. B)")
