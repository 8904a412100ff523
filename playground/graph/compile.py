"""compile(): turn a valid GraphModel into a runnable :class:`Program`.

A Program is an ordered list of node calls (networkx's topological order) with one engine
module per node. Running it on a batch fills a :class:`Trace` with every node's outputs.

Closed blocks are inlined: each inner node becomes a call with id ``"<block id>/<local id>"``
(recursively for nested blocks), which is exactly the id it has when the block is open. So
the open and closed forms run the same calls, and parameters keep their names
(``"block1/conv1.weight"``) across opening and closing. A block's own id stays readable in
the Trace: ``trace["block1"]["output"]`` is its mapped inner output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from playground.engine import Tensor, nn

from .model import GraphModel
from .nodes._init import apply_init, gain_name, has_weight_init
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

    def __init__(self, calls: list[Call],
                 aliases: Mapping[str, Mapping[str, tuple[str, str]]] | None = None):
        self.calls = calls
        #: ``{block id: {output port: (inner call id, port)}}`` for every inlined block
        self.aliases = {k: dict(v) for k, v in (aliases or {}).items()}
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
        """Copies of every parameter and persistent buffer (BatchNorm's ``running_mean``,
        ``running_var``, ``num_batches_tracked``), keyed ``"<node_id>.<name>"``.

        Integer buffers (``num_batches_tracked``) come as float64, exact below 2**53: the
        weights file holds floating-point arrays only, and :meth:`load_matching` casts them
        back."""
        out = {}
        for call in self.calls:
            if call.module is not None:
                for name, value in call.module.state_dict().items():
                    if value.dtype.kind != "f":
                        value = value.astype(np.float64)
                    out[f"{call.node_id}.{name}"] = value
        return out

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
        for block, ports in self.aliases.items():
            got = {p: out[s][sp] for p, (s, sp) in ports.items() if s in out}
            if got:
                out[block] = got
        return Trace(out)

    def ancestors(self, node_id: str) -> set[str]:
        """``node_id`` and every node it depends on (for a block: its inner calls)."""
        need, stack = set(), [node_id]
        while stack:
            n = stack.pop()
            if n in need:
                continue
            need.add(n)
            if n in self.aliases:
                stack.extend(s for s, _ in self.aliases[n].values())
            else:
                stack.extend(src for _, src, _ in self._by_id[n].inputs)
        return need

    def load_matching(self, state: Mapping[str, np.ndarray]) -> list[str]:
        """Copy in the weights of every node whose id and parameter shapes are unchanged.

        A node's parameters are all or nothing: if any of them is missing from ``state`` or
        has another shape, the node keeps its fresh weights. Its persistent buffers
        (BatchNorm's running statistics) are then copied one by one where ``state`` has them
        with the same shape, cast to the buffer's dtype; a file saved before buffers were
        kept leaves them fresh. Returns the keys copied. Used to keep trained layers across
        a recompile (a live edit) and to load saved weights.
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
            elif own:
                continue  # fresh parameters: their statistics start fresh too
            buffers = call.module._named_state()
            for name, buf in buffers:
                key = f"{call.node_id}.{name}"
                if key in own or key not in state or np.shape(state[key]) != buf.data.shape:
                    continue
                buf.data[...] = state[key]
                kept.append(key)
        return kept


@dataclass
class FlatNode:
    """A primitive node of the graph with every block inlined."""

    node_id: str
    name: str
    spec: NodeSpec
    params: dict
    inputs: dict[str, tuple[str, str]]   # port -> (source call id, port)
    in_shapes: dict


def flatten(model: GraphModel) -> tuple[list[FlatNode], dict[str, dict[str, tuple[str, str]]]]:
    """The model's primitive nodes in execution order, closed blocks inlined (ids
    ``"<block id>/<local id>"``), and each block's output aliases. The model must be
    valid (no node in error)."""
    states = model.states()
    flat: list[FlatNode] = []
    alias: dict[tuple[str, str], tuple[str, str]] = {}
    blocks: dict[str, dict[str, tuple[str, str]]] = {}

    def resolve(ref: tuple[str, str]) -> tuple[str, str]:
        while ref in alias:
            ref = alias[ref]
        return ref

    def expand(block_id: str, block_name: str, sub, state, ins) -> None:
        feeds: dict[str, dict[str, tuple[str, str]]] = {}
        for port in sub.inputs:
            if port.name in ins:
                for local, q in port.targets:
                    feeds.setdefault(local, {})[q] = ins[port.name]
        into: dict[str, dict[str, tuple[str, str]]] = {n.id: {} for n in sub.nodes}
        for s, sp, d, dp in sub.edges:
            into[d][dp] = (f"{block_id}/{s}", sp)
        nodes = {n.id: n for n in sub.nodes}
        for local in sub.order():
            n = nodes[local]
            nid = f"{block_id}/{local}"
            n_ins = {p: resolve(ref) for p, ref in into[local].items()}
            n_ins.update(feeds.get(local, {}))
            inner = state.inner[local]
            if n.subgraph is not None:
                expand(nid, f"{block_name}/{n.name}", n.subgraph, inner, n_ins)
            else:
                flat.append(FlatNode(nid, f"{block_name}/{n.name}", model.registry[n.type],
                                     dict(n.params), n_ins, dict(inner.inputs)))
        for port in sub.outputs:
            alias[(block_id, port.name)] = resolve((f"{block_id}/{port.source[0]}",
                                                    port.source[1]))
        blocks[block_id] = {port.name: alias[(block_id, port.name)] for port in sub.outputs}

    for node_id in model.topological_order():
        ins = {e.dst_port: resolve((e.src, e.src_port)) for e in model.in_edges(node_id)}
        sub = model.subgraph(node_id)
        if sub is not None:
            expand(node_id, model.name(node_id), sub, states[node_id], ins)
        else:
            flat.append(FlatNode(node_id, model.name(node_id), model.spec(node_id),
                                 model.params(node_id), ins, dict(states[node_id].inputs)))
    return flat, blocks


def compile(model: GraphModel) -> Program:  # noqa: A001 - the design's name
    """Build a Program from ``model``, with closed blocks inlined.

    Raises:
        CompileError: some node is in error or blocked; ``errors`` maps ids to messages.
    """
    states = model.states()
    bad = {n: s.message for n, s in states.items() if not s.ok}
    if bad:
        first = next(iter(bad.values()))
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise CompileError(f"the graph has errors: {first}{more}", bad)
    flat, blocks = flatten(model)
    calls = []
    for node in flat:
        spec = node.spec
        module = spec.build(node.params, node.in_shapes) if spec.build else None
        calls.append(Call(node.node_id, node.name, spec, module,
                          tuple((p, s, sp) for p, (s, sp) in node.inputs.items())))
    _apply_inits(flat, calls)
    return Program(calls, blocks)


def _apply_inits(flat: list[FlatNode], calls: list[Call]) -> None:
    """Redraw the weights of every layer whose ``init`` param is not ``"default"``, after
    all layers are built (so the others keep PyTorch's draws), with the gain of the one
    activation its output feeds (see :mod:`playground.graph.nodes._init`)."""
    consumers: dict[str, list[FlatNode]] = {}
    for node in flat:
        for src, _ in node.inputs.values():
            consumers.setdefault(src, []).append(node)
    for node, call in zip(flat, calls):
        if call.module is None or not has_weight_init(node.spec) or \
                node.params.get("init", "default") == "default":
            continue
        if node.spec.category == "Recurrent":
            gain = (node.params.get("nonlinearity", "tanh"), None)
        else:
            users = consumers.get(node.node_id, [])
            one = users[0] if len(users) == 1 else None
            gain = gain_name(one.spec.type if one else None, one.params if one else None)
        apply_init(call.module, node.params, *gain)
