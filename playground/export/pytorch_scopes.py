"""Names and scopes of the PyTorch code export: valid Python identifiers for canvas nodes,
and the scopes (the model, each block class) whose items become submodules and forward lines."""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from playground.engine import nn
from playground.graph import GraphModel
from playground.graph.composite import CompositeSpec, Subgraph

from ._names import distinct
from .pytorch_nodes import HELPERS, Expr


# ------------------------------------------------------------------------------ names


def _reserved() -> set[str]:
    names = set(keyword.kwlist) | set(dir(builtins)) | set(dir(nn.Module))
    names |= {"self", "torch", "nn", "F", "np", "math", "Path", "forward", "training",
              "output_names", "load_weights", "state_dict", "parameters", "buffers",
              "children", "modules", "cuda", "cpu", "to", "float", "double", "half",
              "type", "apply", "extra_repr", "zero_grad", "requires_grad_", "share_memory",
              "register_module", "get_submodule", "compile", "ipu", "xpu", "mtia", "bfloat16"}
    return names | set(HELPERS)


RESERVED = _reserved()


def identifier(text: str) -> str:
    """``"block_1/conv 1"`` -> ``"block_1_conv_1"``: a valid lowercase-friendly Python name."""
    name = re.sub(r"\W+", "_", text).strip("_") or "node"
    if name[0].isdigit():
        name = "n" + name
    return name


def class_name(text: str) -> str:
    """``"xor_mlp"`` -> ``"XorMlp"``; ``"ResNetBasicBlock"`` stays."""
    words = [w for w in re.split(r"[\W_]+", text) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    return "Model" + name if name[0].isdigit() else name


class Namer:
    """Hands out distinct identifiers in one scope: ``fc1``, then ``fc1_2`` on a clash."""

    def __init__(self, taken: set[str] = RESERVED):
        self.taken = set(taken)

    def __call__(self, text: str) -> str:
        return distinct(identifier(text), self.taken)


# ------------------------------------------------------------------------------ scopes


@dataclass(frozen=True)
class Ref:
    """A value in a scope: a forward argument (``node`` None, ``port`` its name) or a
    node's output port."""

    node: str | None
    port: str


@dataclass
class Item:
    """One node of a scope. ``path`` is its id in the engine's program (``"block_1/conv1"``);
    ``scope`` is the inside of a block or a part."""

    key: str
    path: str
    type: str
    name: str
    params: dict
    inputs: dict[str, Ref]
    ports: tuple[str, ...]          # output ports that carry a value
    scope: "Scope | None" = None
    attr: str = ""                  # the submodule / variable name
    vars: dict[str, str] = field(default_factory=dict)   # port -> variable


@dataclass
class Scope:
    """A class to write: its forward's arguments, its nodes in order and its outputs.

    ``title`` names the class (a block type, a group's name); ``ctor_params`` are the
    block's params passed to the constructor (with ``ctor_values``, the instance's).
    ``bindings`` maps each argument to the value it is called with in the outer scope.
    """

    title: str
    args: list[str]
    items: list[Item]
    outputs: list[tuple[str, Ref]]
    doc: str = ""
    ctor_params: list[str] = field(default_factory=list)
    ctor_values: dict[str, Any] = field(default_factory=dict)
    block_params: dict[str, Any] = field(default_factory=dict)
    bindings: dict[str, Ref] = field(default_factory=dict)
    arg_vars: dict[str, str] = field(default_factory=dict)
    class_name: str = ""

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)


def _strip_pos(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_pos(v) for k, v in data.items() if k != "pos"}
    if isinstance(data, list):
        return [_strip_pos(v) for v in data]
    return data


def _block_exprs(spec: CompositeSpec, params: Mapping[str, Any], sub: Subgraph
                 ) -> dict[tuple[str, str], Expr]:
    """Which inner params follow the block's own params: ``{(local id, param): Expr}``.

    Found by rebuilding the block's template with each int param moved by one and seeing
    which inner values move with it: ``conv1.out_channels = planes``, ``4 * planes``,
    ``in_channels + 2 * growth_rate`` (a sum over several params is checked by moving them
    all at once) or ``bn_size * growth_rate``. Only for a block whose inside is still its
    template's (an edited inside is written with its values as they are)."""
    if spec.template is None:
        return {}
    try:
        base = spec.make_subgraph(params)
    except Exception:  # noqa: BLE001 - a template that cannot rebuild: write literals
        return {}
    if _strip_pos(base.to_dict()) != _strip_pos(sub.to_dict()):
        return {}
    moves: dict[str, int] = {}
    deps: dict[tuple[str, str], dict[str, int]] = {}   # (local, param) -> {q: moved value}
    for ps in spec.params:
        v = params[ps.name]
        if ps.type not in ("int", "ints") or isinstance(v, bool) or not isinstance(v, int):
            continue
        moved = v + 1 if ps.high is None or v + 1 <= ps.high else v - 1
        changed = _rebuilt(spec, params, {ps.name: moved})
        if changed is None:
            continue
        moves[ps.name] = moved
        for key, b in _int_changes(base, changed).items():
            deps.setdefault(key, {})[ps.name] = b
    inner = {n.id: n for n in base.nodes}
    out = {}
    for (local, pname), moved_values in deps.items():
        a = inner[local].params[pname]
        coeffs = {}
        for q, b in moved_values.items():
            step = moves[q] - params[q]
            if (b - a) % step:
                break
            coeffs[q] = (b - a) // step
        else:
            expr = _linear(coeffs, a - sum(c * params[q] for q, c in coeffs.items()))
            if len(coeffs) > 1:  # a sum is checked with every param moved at once
                both = _rebuilt(spec, params, {q: moves[q] for q in coeffs})
                got = None if both is None else _param_of(both, local, pname)
                want = a + sum(c * (moves[q] - params[q]) for q, c in coeffs.items())
                if got != want:
                    expr = _product(spec, params, moves, coeffs, a, local, pname)
            if expr is not None:
                out[(local, pname)] = expr
    return out


def _rebuilt(spec: CompositeSpec, params: Mapping[str, Any], change: Mapping[str, int]
             ) -> Subgraph | None:
    try:
        return spec.make_subgraph(spec.validate_params(dict(params, **change)))
    except Exception:  # noqa: BLE001 - a value the block refuses: no dependency found
        return None


def _param_of(sub: Subgraph, local: str, name: str):
    node = next((n for n in sub.nodes if n.id == local), None)
    return None if node is None else node.params.get(name)


def _int_changes(base: Subgraph, changed: Subgraph) -> dict[tuple[str, str], int]:
    """``{(local id, param): new value}`` for the int params that differ."""
    old = {n.id: n for n in base.nodes}
    out = {}
    for n in changed.nodes:
        o = old.get(n.id)
        if o is None or o.type != n.type:
            continue
        for name, a in o.params.items():
            b = n.params.get(name)
            if isinstance(a, int) and not isinstance(a, bool) and isinstance(b, int) \
                    and not isinstance(b, bool) and a != b:
                out[(n.id, name)] = b
    return out


def _linear(coeffs: Mapping[str, int], constant: int) -> Expr | None:
    """``in_channels + 2 * growth_rate - 1`` from the coefficients; None when one is not
    positive (written as a literal instead)."""
    if not coeffs or any(c <= 0 for c in coeffs.values()):
        return None
    terms = [q if c == 1 else f"{c} * {q}" for q, c in coeffs.items()]
    text = " + ".join(terms)
    if constant:
        text += f" {'+' if constant > 0 else '-'} {abs(constant)}"
    return Expr(text)


def _product(spec, params, moves, coeffs, a, local, pname) -> Expr | None:
    """``bn_size * growth_rate`` (times a constant) when two params multiply."""
    if len(coeffs) != 2:
        return None
    q1, q2 = coeffs
    base = params[q1] * params[q2]
    if not base or a % base:
        return None
    k = a // base
    both = _rebuilt(spec, params, {q1: moves[q1], q2: moves[q2]})
    if both is None or _param_of(both, local, pname) != k * moves[q1] * moves[q2]:
        return None
    return Expr(f"{q1} * {q2}" if k == 1 else f"{k} * {q1} * {q2}")


def _block_scope(model: GraphModel, spec, name: str, params: dict, sub: Subgraph, state,
                 path: str) -> Scope:
    exprs = _block_exprs(spec, params, sub) if isinstance(spec, CompositeSpec) else {}
    args = ["x" if p.name == "input" else p.name for p in sub.inputs]
    feeds: dict[str, dict[str, Ref]] = {}
    for port, arg in zip(sub.inputs, args):
        for local, q in port.targets:
            feeds.setdefault(local, {})[q] = Ref(None, arg)
    into: dict[str, dict[str, Ref]] = {n.id: dict(feeds.get(n.id, {})) for n in sub.nodes}
    for s, sp, d, dp in sub.edges:
        into[d][dp] = Ref(s, sp)
    nodes = {n.id: n for n in sub.nodes}
    items = []
    for local in sub.order():
        n = nodes[local]
        inner = state.inner[local]
        values = dict(n.params)
        for (lid, pname), expr in exprs.items():
            if lid == local:
                values[pname] = expr
        child = None
        if n.subgraph is not None:
            child = _block_scope(model, model.registry[n.type], n.name, dict(n.params),
                                 n.subgraph, inner, f"{path}/{local}")
        ports = _ports(model, n.type, inner, n.subgraph)
        if child is not None and not n.subgraph.outputs:
            ports = tuple(name for name, _ in child.outputs)
        items.append(Item(local, f"{path}/{local}", n.type, n.name, values, into[local],
                          ports, child))
    outputs = [(p.name, Ref(*p.source)) for p in sub.outputs]
    if not outputs:  # a group whose results go nowhere: its last nodes' outputs
        fed = {s for s, _, _, _ in sub.edges}
        outputs = [(f"{i.key}.{i.ports[0]}", Ref(i.key, i.ports[0])) for i in items
                   if i.key not in fed and i.ports]
    used = sorted({str(e) for e in exprs.values()})
    ctor = [ps.name for ps in getattr(spec, "params", ()) if any(
        re.search(rf"\b{ps.name}\b", u) for u in used)]
    title = spec.type if spec.type != "Group" else name
    doc = spec.description if spec.type != "Group" else f"The group '{name}' of the canvas."
    return Scope(title, args, items, outputs, doc, ctor, {k: params[k] for k in ctor},
                 block_params=dict(params))


def _ports(model: GraphModel, type_name: str, state, subgraph) -> tuple[str, ...]:
    spec = model.registry[type_name]
    names = [p.name for p in (subgraph.outputs if subgraph is not None else spec.outputs)]
    return tuple(p for p in names if state.outputs.get(p) is not None)



def _var(scope: Scope, ref: Ref) -> str:
    if ref.node is None:
        return scope.arg_vars[ref.port]
    return scope.item(ref.node).vars[ref.port]
