"""compile(): turn a valid GraphModel into a runnable :class:`Program`.

A Program is an ordered list of node calls (networkx's topological order) with one engine
module per node. Running it on a batch fills a :class:`Trace` with every node's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from playground.engine import Tensor, nn

from .model import GraphModel
from .spec import NodeSpec


class CompileError(ValueError):
    """The graph cannot run. ``errors`` maps node ids to their messages."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None):
        super().__init__(message)
        self.errors = dict(errors or {})


@dataclass
class Call:
    """One node call: ``module(**{port: trace[src][src_port]})``."""

    node_id: str
    name: str
    spec: NodeSpec
    module: nn.Module | None
    inputs: tuple[tuple[str, str, str], ...]   # (dst_port, src_id, src_port)


@dataclass
class Trace:
    """Every node's outputs from one run: ``outputs[node_id][port] -> Tensor``."""

    outputs: dict[str, dict[str, Tensor]] = field(default_factory=dict)

    def __getitem__(self, node_id: str) -> dict[str, Tensor]:
        return self.outputs[node_id]


class Program:
    """A compiled graph. Its parameters are named ``"<node_id>.<param>"``, e.g.
    ``"linear_1.weight"``, so state dicts key on stable node ids.

    Attributes:
        calls: node calls in execution order.
        sources: ids of the nodes fed from outside (Dataset nodes).
        losses: ids of the loss nodes, whose outputs add up to the training loss.
    """

    def __init__(self, calls: list[Call]):
        self.calls = calls
        self.sources = [c.node_id for c in calls if c.spec.build is None]
        self.losses = [c.node_id for c in calls if c.spec.is_loss]
        self._by_id = {c.node_id: c for c in calls}

    def named_parameters(self):
        """Yield ``("<node_id>.<param>", Parameter)`` in execution order."""
        for call in self.calls:
            if call.module is not None:
                for name, param in call.module.named_parameters():
                    yield f"{call.node_id}.{name}", param

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, keyed ``"<node_id>.<param>"``."""
        return {k: p.data.copy() for k, p in self.named_parameters()}

    def train(self, mode: bool = True) -> "Program":
        for call in self.calls:
            if call.module is not None:
                call.module.train(mode)
        return self

    def eval(self) -> "Program":
        return self.train(False)

    def call(self, node_id: str) -> Call:
        return self._by_id[node_id]

    def run(self, feeds: Mapping[str, Mapping[str, Tensor]], until: set[str] | None = None
            ) -> Trace:
        """Run every node in order.

        Args:
            feeds: outputs of the source nodes, ``{dataset_id: {"input": x, "target": y}}``.
            until: if given, run only these nodes (and assume they are closed under inputs;
                see :meth:`ancestors`).

        Returns the Trace of every node's outputs.
        """
        out: dict[str, dict[str, Tensor]] = {}
        for call in self.calls:
            if until is not None and call.node_id not in until:
                continue
            if call.module is None:
                out[call.node_id] = dict(feeds[call.node_id])
                continue
            kwargs = {port: out[src][sport] for port, src, sport in call.inputs}
            result = call.module(**kwargs)
            if not isinstance(result, dict):
                result = {call.spec.outputs[0].name: result}
            out[call.node_id] = result
        return Trace(out)

    def ancestors(self, node_id: str) -> set[str]:
        """``node_id`` and every node it depends on."""
        need, stack = set(), [node_id]
        while stack:
            n = stack.pop()
            if n not in need:
                need.add(n)
                stack.extend(src for _, src, _ in self._by_id[n].inputs)
        return need

    def load_matching(self, state: Mapping[str, np.ndarray]) -> list[str]:
        """Copy in the weights of every node whose id and parameter shapes are unchanged.

        A node is all or nothing: if any of its parameters is missing from ``state`` or has
        another shape, the node keeps its fresh weights. Returns the keys copied. Used to
        keep trained layers across a recompile (a live edit) and to load saved weights.
        """
        kept = []
        for call in self.calls:
            if call.module is None:
                continue
            own = {f"{call.node_id}.{n}": p for n, p in call.module.named_parameters()}
            if own and all(k in state and np.shape(state[k]) == p.data.shape
                           for k, p in own.items()):
                for key, param in own.items():
                    param.data[...] = state[key]
                kept.extend(own)
        return kept


def compile(model: GraphModel) -> Program:  # noqa: A001 - the design's name
    """Build a Program from ``model``.

    Raises:
        CompileError: some node is in error or blocked; ``errors`` maps ids to messages.
    """
    states = model.states()
    bad = {n: s.message for n, s in states.items() if not s.ok}
    if bad:
        first = next(iter(bad.values()))
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise CompileError(f"the graph has errors: {first}{more}", bad)
    calls = []
    for node_id in model.topological_order():
        spec = model.spec(node_id)
        ins = {e.dst_port: (e.src, e.src_port) for e in model.in_edges(node_id)}
        in_shapes = {p: states[s].outputs[sp] for p, (s, sp) in ins.items()}
        module = spec.build(model.params(node_id), in_shapes) if spec.build else None
        calls.append(Call(node_id, model.name(node_id), spec, module,
                          tuple((p, s, sp) for p, (s, sp) in ins.items())))
    return Program(calls)
