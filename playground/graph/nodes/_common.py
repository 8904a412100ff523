"""Helpers shared by the node specs: input checks, messages, per-example sizes, adapters.

Every message a spec raises says what it expected, what it got and from where, and one fix.
The inference pass prefixes it with the node's type and name ("Conv2d 'conv2' ...").
"""

from __future__ import annotations

from math import prod
from typing import Any, Callable, Mapping

from playground.engine import nn

from ..spec import Cost, ShapeError, Source, format_shape

__all__ = ["need", "tensor", "no_cost", "dims", "fmt", "pair", "per_example", "batch_dim",
           "upstream_hint", "mismatch", "norm_dim", "sequence", "seq_len", "adapted", "Lambda",
           "cost_per_position", "is_tokens"]


# ----------------------------------------------------------------------------- inputs


def need(inputs: Mapping[str, Source], port: str, what: str) -> Source:
    """The Source wired into ``port``; a ShapeError telling the student what to connect
    when nothing is, or when the upstream port carries nothing (an unused Chunk output)."""
    src = inputs.get(port)
    if src is None:
        raise ShapeError(f"has nothing wired into its '{port}' port: connect {what}.")
    if src.shape is None:
        raise ShapeError(f"gets nothing from '{src.node}'.{src.port}: that port is unused with "
                         f"{src.node}'s current settings. Wire another of its outputs into "
                         f"'{port}'.")
    return src


def tensor(src: Source, port: str) -> Source:
    """``src`` if it is a float tensor with a batch dim and at least one feature dim."""
    if len(src.shape) == 1 and src.shape[0] is None:  # (N,) labels
        raise ShapeError(f"'{port}' got class labels {format_shape(src.shape)} from '{src.node}'"
                         f".{src.port}; it needs a float tensor. Wire '{src.node}'.input "
                         "(not .target) here.")
    if is_tokens(src):
        raise ShapeError(f"'{port}' got integer token indices {format_shape(src.shape)} from "
                         f"'{src.node}'.{src.port}; it needs float values. Add an Embedding "
                         "between them.")
    return src


def is_tokens(src: Source) -> bool:
    """True when ``src`` carries int64 token indices (a sequence dataset's input)."""
    return (src.meta or {}).get("dtype") == "int64"


def no_cost(params, ins, outs) -> Cost:
    return Cost(0, 0, "0", "0")


# ------------------------------------------------------------------------------ shapes


def pair(value: int | tuple) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` -> ``(3, 5)`` (PyTorch's int-or-pair params)."""
    return (value, value) if isinstance(value, int) else tuple(value)


def dims(value: int | tuple) -> tuple:
    """``3`` -> ``(3,)``; a tuple stays."""
    return (value,) if isinstance(value, int) else tuple(value)


def fmt(value: Any) -> str:
    """A param value as the messages write it: ``3``, ``(3, 5)``, ``None``."""
    return str(tuple(value)) if isinstance(value, (tuple, list)) else str(value)


def per_example(shape) -> tuple:
    """``shape`` with the batch N (None) set to 1: counts in summaries are per example."""
    return tuple(1 if d is None else d for d in shape)


def batch_dim(shape) -> int | None:
    """Index of the batch dim (the None entry), or None."""
    return next((i for i, d in enumerate(shape) if d is None), None)


def sequence(src: Source, port: str, batch_first: bool, features: str) -> int:
    """Check that ``src`` is a batch of sequences laid out as ``batch_first`` says:
    (N, L, features) or (L, N, features). Returns L. The fix for a batch N in the other
    place is to flip ``batch_first``."""
    layout = f"(N, L, {features})" if batch_first else f"(L, N, {features})"
    if len(src.shape) != 3:
        hint = ("Add a Reshape with shape=(L, features) before it" if len(src.shape) == 2 else
                "Add a Reshape or Flatten to make it (N, L, features)")
        raise ShapeError(f"expects a batch of sequences {layout} in '{port}' (batch_first="
                         f"{batch_first}), got {format_shape(src.shape)} from '{src.node}'. "
                         f"{hint}.")
    want = 0 if batch_first else 1
    if src.shape[want] is not None:
        raise ShapeError(f"expects {layout} in '{port}' since batch_first={batch_first}, but "
                         f"the batch N of {format_shape(src.shape)} from '{src.node}' is dim "
                         f"{1 - want}. Set batch_first={not batch_first}.",
                         fix=("batch_first", not batch_first))
    return src.shape[1 - want]


def seq_len(shape, batch_first: bool) -> int:
    """L of a (N, L, E) or (L, N, E) shape."""
    return shape[1] if batch_first else shape[0]


def norm_dim(dim: int, ndim: int, src: Source, param: str = "dim", fix: int | None = None
             ) -> int:
    """``dim`` as an index in ``[0, ndim)``; a ShapeError naming the input when out of range."""
    if -ndim <= dim < ndim:
        return dim % ndim
    fix = ndim - 1 if fix is None else fix
    raise ShapeError(f"{param}={dim} is out of range for the {ndim}-D input "
                     f"{format_shape(src.shape)} from '{src.node}' (dims -{ndim}..{ndim - 1}). "
                     f"Set {param}={fix}.", fix=(param, fix))


#: Upstream types whose own param sets the size of a given output dim: (type, which dim)
#: -> param. "channels" is dim 1 of an image (N, C, H, W); "last" is the last dim.
_PRODUCERS = {
    ("Conv2d", "channels"): "out_channels",
    ("ConvTranspose2d", "channels"): "out_channels",
    ("Linear", "last"): "out_features",
    ("Embedding", "last"): "embedding_dim",
}


def upstream_hint(src: Source, axis: int) -> str:
    """``", or change conv1.out_channels"`` when the upstream node's own param sets the size
    of dim ``axis`` of its output (a Conv2d's channels, a Linear's last dim); else ``""``."""
    nd = len(src.shape)
    axis %= nd
    kinds = []
    if axis == nd - 1:
        kinds.append("last")
    if axis == 1 and nd >= 3:
        kinds.append("channels")
    for kind in kinds:
        param = _PRODUCERS.get((src.node_type, kind))
        if param is not None:
            return f", or change {src.node}.{param}"
    return ""


def mismatch(what: str, param: str, want: Any, src: Source, axis: int) -> ShapeError:
    """The standard size mismatch: "expects 16 input channels, got 32 from 'conv1'. Set
    in_channels=32, or change conv1.out_channels." with fix ``(param, got)``.

    ``what`` is how the size reads in the sentence (``"{} input channels"``); ``axis`` is
    the dim of ``src.shape`` that holds the size.
    """
    got = src.shape[axis]
    return ShapeError(f"expects {what.format(want)}, got {got} from '{src.node}'. "
                      f"Set {param}={got}{upstream_hint(src, axis)}.", fix=(param, got))


def cost_per_position(shape, skip_last: int = 1) -> int:
    """Product of ``shape`` without the batch N and without its last ``skip_last`` dims."""
    inner = shape[:len(shape) - skip_last] if skip_last else shape
    return prod(d for d in inner if d is not None)


# ---------------------------------------------------------------------------- builds


_ADAPTED: dict = {}


def adapted(cls: type, name: str, forward: Callable) -> type:
    """A subclass of the engine module ``cls`` whose ``forward`` is ``forward(base, self,
    **ports)``; ``base`` is ``cls.forward``. Keeps PyTorch's parameter names (a wrapper
    module would add a prefix), so state dicts still transfer to torch.

    Used where torch's forward returns a tuple (RNN outputs, attention weights) and a node
    returns a dict by output port.
    """
    key = (cls, name)
    sub = _ADAPTED.get(key)
    if sub is None:
        base = cls.forward

        def fwd(self, *args, **kwargs):
            return forward(base, self, *args, **kwargs)

        sub = type(name, (cls,), {"forward": fwd, "__doc__": cls.__doc__,
                                  "__module__": __name__})
        _ADAPTED[key] = sub
    return sub


class Lambda(nn.Module):
    """A parameter-free module around a function of the input ports: ``Lambda(fn, repr)``;
    ``forward(**ports)`` returns ``fn(**ports)``. Used by the Math and Generative nodes."""

    def __init__(self, fn: Callable, text: str = ""):
        super().__init__()
        self.fn = fn
        self.text = text

    def forward(self, **ports):
        return self.fn(**ports)

    def extra_repr(self) -> str:
        return self.text
