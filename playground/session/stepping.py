"""Stepping through a Program: one node forward, one engine op backward, and a gradient
check of one node.

Forward stepping runs the Program's calls one at a time (:func:`run_calls`, the same loop
as ``Program.run`` with three optional hooks). Backward stepping walks the engine's
``backward_steps()`` over the tape of that pass; each engine op is attributed to the graph
node whose call created it (:func:`claim_ops`), so the canvas can highlight the node and
the wire a gradient travels on.

Shapes: N batch; arrays are copies, safe to hand to another thread.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from playground.engine import Function, Tensor
from playground.graph import Program, Trace
from playground.graph.compile import Call

#: (src node, src port, dst node, dst port): one wire of the canvas.
Wire = tuple[str, str, str, str]


# ------------------------------------------------------------------------ running calls


def run_calls(program: Program, feeds: Mapping[str, Mapping[str, Tensor]], *,
              until: set[str] | None = None,
              inputs: Mapping[tuple[str, str], Tensor] | None = None,
              wire: Callable[[Wire, Tensor], Tensor] | None = None,
              ) -> Iterator[tuple[Call, dict[str, Tensor], dict[str, Tensor]]]:
    """Run ``program``'s calls in order, yielding ``(call, inputs, outputs)`` after each.

    ``Program.run`` is this loop run to the end. The extras:

    Args:
        feeds: outputs of nodes that are not run: every source node (a Dataset), and any
            other node whose outputs are given (e.g. a latent code fed to a decoder).
        until: run only these nodes (closed under inputs, see ``Program.ancestors``).
        inputs: ``{(node_id, port): tensor}`` replaces what is wired into that input port
            (a GAN's discriminator fed real data, a gradient check's leaf).
        wire: ``wire((src, src_port, dst, dst_port), tensor) -> tensor`` is applied to every
            value as it travels along a wire (the health probe taps wires with it).

    Yields:
        the Call, its keyword inputs by port, and its outputs by port (Tensors).
    """
    out: dict[str, dict[str, Tensor]] = {}
    for call in program.calls:
        node = call.node_id
        if until is not None and node not in until:
            continue
        if node in feeds or call.module is None:
            result = dict(feeds[node])
            kwargs: dict[str, Tensor] = {}
        else:
            kwargs = {}
            for port, src, sport in call.inputs:
                given = inputs.get((node, port)) if inputs else None
                if given is not None:
                    kwargs[port] = given
                elif wire is not None:
                    kwargs[port] = wire((src, sport, node, port), out[src][sport])
                else:
                    kwargs[port] = out[src][sport]
            result = call.module(**kwargs)
            if not isinstance(result, dict):
                result = {call.spec.outputs[0].name: result}
        out[node] = result
        yield call, kwargs, result


def trace_of(program: Program, out: dict[str, dict[str, Tensor]]) -> Trace:
    """The Trace of a run from its outputs by node: adds each inlined block's outputs
    under the block's own id, as ``Program.run`` does."""
    for block, ports in program.aliases.items():
        got = {p: out[s][sp] for p, (s, sp) in ports.items() if s in out}
        if got:
            out[block] = got
    return Trace(out)


def claim_ops(outputs: Mapping[str, Any], node_id: str, owner: dict[Function, str]) -> None:
    """Attribute to ``node_id`` every op on the tape behind ``outputs`` not yet in ``owner``.

    Called after each node's call, in execution order: the ops of earlier nodes are already
    claimed, so the walk stops at them and what remains is exactly what this call created
    (ops it created that do not lead to its outputs never reach the loss either).
    """
    stack = [t._ctx for t in outputs.values()
             if isinstance(t, Tensor) and t._ctx is not None and t._ctx not in owner]
    while stack:
        fn = stack.pop()
        if fn in owner:
            continue
        owner[fn] = node_id
        for x in fn.inputs or ():
            if isinstance(x, Tensor) and x._ctx is not None and x._ctx not in owner:
                stack.append(x._ctx)


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class ForwardRecord:
    """One node of a forward step.

    Attributes:
        index: position in execution order (0 = the first node).
        node: the node id; ``type``: its node type.
        inputs: ``{port: array}`` what arrived on each input port.
        outputs: ``{port: array}`` what it produced.
        wires: the wires that brought its inputs, ``(src, src_port, node, port)``.
    """

    index: int
    node: str
    type: str
    inputs: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    wires: tuple[Wire, ...] = ()


@dataclass(frozen=True)
class BackwardRecord:
    """One engine op of a backward step: the chain rule at one op,
    ``downstream[k].ravel() == local_jacobian[k].T @ upstream.ravel()``.

    Attributes:
        index: 0 for the first op walked (the one nearest the loss).
        node: the id of the node call that created the op (inside a closed block, the
            inner node's id ``"<block>/<local id>"``); None for the ops the session adds
            after the graph (the sum of several losses, a recipe's own loss).
        op: the op's name, e.g. ``"Linear"``, ``"ReLU"``.
        upstream: dL/d(output), of the op output's shape.
        downstream: ``{input name: dL/d(input)}`` for each Tensor input, named as in the
            op's ``forward`` (``"input"``, ``"weight"``, ``"bias"``; ``"a"``/``"b"`` for
            arithmetic); None for an input that needs no gradient.
        local_jacobian: ``{input name: d(output)/d(input)}`` as (output.size, input.size)
            arrays, None where too large (either size > 4096) or not needed.
        sources: ``{input name: what it is}``: ``"fc1.weight"`` for a parameter,
            ``"fc1.output"`` for a node's output, ``"<op>"`` for another op's result inside
            the same node, ``""`` for a constant input.
        wires: ``{input name: wire}`` for inputs that arrive on a canvas wire: the gradient
            goes back along it.
        rule: the op's rule in words (its docstring's first paragraph), for the view shown
            when a Jacobian is too large.
        saved: the arrays the op saved for backward, by name.
    """

    index: int
    node: str | None
    op: str
    upstream: np.ndarray
    downstream: Mapping[str, np.ndarray | None]
    local_jacobian: Mapping[str, np.ndarray | None]
    sources: Mapping[str, str] = field(default_factory=dict)
    wires: Mapping[str, Wire] = field(default_factory=dict)
    rule: str = ""
    saved: Mapping[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=None)
def _input_names(op: type, n: int) -> tuple[str, ...]:
    """Names of an op's ``n`` positional inputs, from its ``forward(ctx, ...)`` signature."""
    names: list[str] = []
    try:
        params = list(inspect.signature(op.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            start = len(names)
            names.extend(f"{p.name}[{i}]" for i in range(n - start))
            break
    names = names[:n]
    names.extend(f"input{i}" for i in range(len(names), n))
    return tuple(names)


@lru_cache(maxsize=None)
def op_rule(op: type) -> str:
    """An op's docstring's first paragraph, one line."""
    doc = inspect.getdoc(op) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _copy(a: Any) -> Any:
    return None if a is None else np.array(a, copy=True)


class Tape:
    """The pass a backward walk runs over: the trace, the op → node map and the loss.

    Built by :meth:`playground.session.Session.forward_steps` (or on demand by
    ``backward_steps``). Knows the names of parameters and node outputs so that each record
    says where a gradient goes.
    """

    def __init__(self, program: Program, trace, owner: dict[Function, str], loss: Tensor):
        self.program = program
        self.trace = trace
        self.owner = owner
        self.loss = loss
        self._param_names = {id(p): name for name, p in program.named_parameters()}
        self._outputs: dict[int, tuple[str, str]] = {}
        for node, ports in trace.outputs.items():
            for port, t in ports.items():
                if isinstance(t, Tensor):
                    self._outputs.setdefault(id(t), (node, port))

    def _where(self, x: Any, node: str | None) -> tuple[str, Wire | None]:
        if not isinstance(x, Tensor):
            return "", None
        name = self._param_names.get(id(x))
        if name is not None:
            return name, None
        src = self._outputs.get(id(x))
        if src is None:
            return (f"<{type(x._ctx).__name__}>" if x._ctx is not None else "<leaf>"), None
        label = f"{src[0]}.{src[1]}"
        if node is None or src[0] == node:
            return label, None
        for port, s, sp in self.program.call(node).inputs:
            if (s, sp) == src:
                return label, (s, sp, node, port)
        return label, None

    def backward(self, jacobians: bool = True) -> Iterator[BackwardRecord]:
        """Walk ``loss.backward_steps()`` and yield one record per op. Exhausting it leaves
        exactly the gradients ``loss.backward()`` leaves."""
        for i, step in enumerate(self.loss.backward_steps(jacobians=jacobians)):
            node = self.owner.get(step.fn)
            names = _input_names(type(step.fn), len(step.inputs))
            downstream, jac, sources, wires = {}, {}, {}, {}
            jacs = step.jacobian or (None,) * len(step.inputs)
            for name, x, d, j in zip(names, step.inputs, step.downstream, jacs):
                if not isinstance(x, Tensor):
                    continue
                downstream[name] = _copy(d)
                jac[name] = j  # fresh arrays from the engine
                sources[name], w = self._where(x, node)
                if w is not None:
                    wires[name] = w
            yield BackwardRecord(i, node, step.op, _copy(step.upstream), downstream, jac,
                                 sources, wires, op_rule(type(step.fn)),
                                 dict(getattr(step.fn, "saved", None) or {}))


def forward_record(index: int, call: Call, kwargs: Mapping[str, Tensor],
                   outputs: Mapping[str, Tensor]) -> ForwardRecord:
    return ForwardRecord(
        index, call.node_id, call.spec.type,
        {p: np.array(t.data if isinstance(t, Tensor) else t) for p, t in kwargs.items()},
        {p: np.array(t.data if isinstance(t, Tensor) else t) for p, t in outputs.items()},
        tuple((s, sp, call.node_id, p) for p, s, sp in call.inputs))


# ------------------------------------------------------------------------- gradient check


def float64_program(program: Program) -> Program:
    """A copy of ``program`` in float64 with the same weights, for gradient checks.

    Modules are deep-copied, then every floating array they hold (parameters and buffers
    such as running statistics) is cast to float64. The original is untouched.
    """
    calls = []
    for call in program.calls:
        module = copy.deepcopy(call.module) if call.module is not None else None
        if module is not None:
            for m in module.modules():
                for name, value in list(vars(m).items()):
                    if isinstance(value, Tensor) and value.data.dtype.kind == "f":
                        value.data = value.data.astype(np.float64)
                        value.grad = None
                    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
                        object.__setattr__(m, name, value.astype(np.float64))
        calls.append(replace(call, module=module))
    return Program(calls, program.aliases)


def relative_errors(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-7
                    ) -> np.ndarray:
    """``|a - n| / max(|a|, |n|, floor)`` elementwise (0 where both are 0). The floor keeps
    entries that are zero up to rounding from dividing by nothing."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


def central_differences(loss: Callable[[], float], array: np.ndarray, index: np.ndarray,
                        eps: float = 1e-6) -> np.ndarray:
    """dL/d(array.flat[i]) for each i in ``index`` by ``(L(x+eps) - L(x-eps)) / 2 eps``,
    perturbing ``array`` in place and restoring it."""
    flat = array.reshape(-1)
    out = np.empty(len(index))
    for k, i in enumerate(index):
        keep = flat[i]
        flat[i] = keep + eps
        up = loss()
        flat[i] = keep - eps
        down = loss()
        flat[i] = keep
        out[k] = (up - down) / (2 * eps)
    return out
