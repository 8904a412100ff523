"""Shape inference over the graph (a mixin of :class:`~playground.graph.model.GraphModel`):
every node gets a :class:`~.records.NodeState` (its output shapes, or a message that says
what is wrong), rerun after each edit from the edited nodes downstream. It never raises.

Memory budget (issue 13): a node whose parameters, or whose outputs at the batch size
(:meth:`ShapeInference.set_batch_size`, one example until it is set), would not fit in
:func:`playground.project.limits.memory_budget` is in error, with the size and the fix;
:meth:`ShapeInference.memory_error` checks the whole graph's total the same way (the
session calls it before it allocates anything).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from math import prod

from playground.project.limits import budget_text, format_bytes, memory_budget

from .composite import InPort, Subgraph
from .records import NodeState
from .spec import NodeSpec, ParamError, ShapeError, Source, format_shape


class ShapeInference:
    """``infer_one`` and the incremental ``_infer``. Mixed into GraphModel."""

    #: the batch size N the activations are budgeted at (see :meth:`set_batch_size`);
    #: None: one example
    batch_size: int | None = None

    def set_batch_size(self, batch_size: int | None) -> None:
        """Budget every node's activations at ``batch_size`` examples (the project's
        ``training.batch_size``; None: one example) and infer the graph again."""
        batch_size = None if batch_size is None else max(1, int(batch_size))
        if batch_size != self.batch_size:
            self.batch_size = batch_size
            self._infer()

    def memory_use(self) -> tuple[int, int]:
        """``(parameters, activation values)`` of the whole graph: the parameter count,
        and the values every node outputs for a batch of :attr:`batch_size` (N = 1 when
        unset), summed over the nodes that are ok (a closed block: the nodes inside)."""
        n = self.batch_size or 1
        params = values = 0
        for node_id in self.topological_order():
            attrs = self.graph.nodes[node_id]
            p, v = self._memory_of(attrs["type"], attrs["params"], attrs.get("subgraph"),
                                   self._states.get(node_id), n)
            params += p
            values += v
        return params, values

    def _memory_of(self, type_name, params, subgraph, state, n: int) -> tuple[int, int]:
        if state is None or not state.ok:
            return 0, 0
        if subgraph is not None and state.inner:
            total_p = total_v = 0
            for node in subgraph.nodes:
                p, v = self._memory_of(node.type, node.params, node.subgraph,
                                       state.inner.get(node.id), n)
                total_p += p
                total_v += v
            return total_p, total_v
        return _param_count(self.registry[type_name], params, state.inputs, state.outputs), \
            _values(state.outputs, n)

    def memory_error(self) -> str:
        """A message if the whole graph would not fit in the memory budget to train (its
        parameters with gradients and Adam's moments, :data:`BYTES_PER_PARAM` each, and
        its activations with their gradients at :attr:`batch_size`,
        :data:`BYTES_PER_ACTIVATION` each), else ``""``."""
        params, values = self.memory_use()
        budget = memory_budget()
        need = BYTES_PER_PARAM * params + BYTES_PER_ACTIVATION * values
        if need <= budget:
            return ""
        n = self.batch_size or 1
        per_example = values // n if n else values
        room = budget - BYTES_PER_PARAM * params
        fits = room // (BYTES_PER_ACTIVATION * per_example) if per_example and room > 0 else 0
        fix = (f"Lower training.batch_size to at most {fits:,}, or use fewer or smaller "
               "layers." if fits >= 1 else "Use fewer or smaller layers (fewer features, "
               "channels or a smaller image): even one example does not fit.")
        return (f"the graph would need {format_bytes(need)} to train: "
                f"{format_bytes(BYTES_PER_PARAM * params)} for its {params:,} parameters "
                f"(with their gradients and Adam's moments) and "
                f"{format_bytes(BYTES_PER_ACTIVATION * values)} for its activations at "
                f"batch_size {n:,} ({per_example:,} values per example, with their "
                f"gradients), over the {format_bytes(budget)} this machine allows "
                f"({budget_text()}). {fix}")

    def _infer(self, dirty: Iterable[str] | None = None) -> None:
        """Recompute the :class:`NodeState` of the ``dirty`` nodes (all nodes when None) and
        of the nodes downstream whose inputs changed; a state equal to the old one keeps
        the old object and stops the wave there. Never raises."""
        order = self.topological_order()
        if dirty is None:
            self._states = {}
            for node_id in order:
                self._states[node_id] = self._infer_node(node_id, self._states)
            return
        dirty = {n for n in dirty if n in self.graph}
        affected: set[str] = set()
        stack = list(dirty)
        while stack:
            n = stack.pop()
            if n not in affected:
                affected.add(n)
                stack.extend(self.graph.successors(n))
        changed: set[str] = set()
        for node_id in order:
            if node_id not in affected:
                continue
            if node_id not in dirty and not any(p in changed
                                                for p in self.graph.predecessors(node_id)):
                continue  # its inputs are as they were: so is its state
            old = self._states.get(node_id)
            new = self._infer_node(node_id, self._states)
            if new != old:  # an equal state keeps its object, so views can skip it
                self._states[node_id] = new
                changed.add(node_id)

    def _infer_node(self, node_id: str, states: Mapping[str, NodeState]) -> NodeState:
        """Infer one node from its inputs' states. The inputs are read in the order of the
        node's ports, so the result never depends on the order the wires were drawn in; a
        node whose input is not ok is "blocked" and names the upstream node in error."""
        attrs = self.graph.nodes[node_id]
        by_port = {e.dst_port: e for e in self.in_edges(node_id)}
        ports = [p.name for p in self.input_ports(node_id)]
        inputs: dict[str, Source] = {}
        for port in ports + sorted(set(by_port) - set(ports)):
            edge = by_port.get(port)
            if edge is None:
                continue
            up = states[edge.src]
            if up.status == "blocked":
                return NodeState("blocked", message=up.message)
            if not up.ok:
                return NodeState("blocked", message=f"waiting for '{self.name(edge.src)}', "
                                                    "which has an error")
            up_attrs = self.graph.nodes[edge.src]
            inputs[edge.dst_port] = Source(up.outputs[edge.src_port], up_attrs["name"],
                                           up_attrs["type"], edge.src_port, edge.src,
                                           up.meta.get(edge.src_port))
        return self.infer_one(attrs["type"], attrs["name"], attrs["params"],
                              attrs.get("subgraph"), inputs)

    def infer_one(self, type_name: str, name: str, params: Mapping[str, Any],
                  subgraph: Subgraph | None, inputs: Mapping[str, Source]) -> NodeState:
        """Shape inference for one node given its inputs (a block: through its inside)."""
        spec = self.registry[type_name]
        shapes = {p: s.shape for p, s in inputs.items()}
        if subgraph is not None:
            try:  # a block's own check of its params, before its inside
                if spec.infer is not None:
                    spec.infer(params, inputs)
            except ShapeError as exc:
                return NodeState("error", message=f"{spec.type} '{name}' {exc.message}",
                                 fix=_valid_fix(spec, exc.fix), inputs=shapes)
            return self._infer_block(spec, name, params, subgraph, inputs)
        try:
            result = spec.infer(params, inputs) if spec.infer else {}
        except ShapeError as exc:
            return NodeState("error", message=f"{spec.type} '{name}' {exc.message}",
                             fix=_valid_fix(spec, exc.fix), inputs=shapes)
        except Exception as exc:  # a spec bug must not reach the event loop
            return NodeState("error", message=f"{spec.type} '{name}': internal error "
                                              f"in shape inference: {exc!r}", inputs=shapes)
        meta: dict = {}
        if isinstance(result, tuple):
            result, meta = result
        too_big = _over_budget(spec, name, params, shapes, result) or \
            _over_activation_budget(spec, name, result, self.batch_size) or \
            _one_value_per_channel(spec, name, shapes, self.batch_size)
        if too_big:
            return NodeState("error", message=too_big, inputs=shapes)
        return NodeState("ok", outputs=dict(result), meta=dict(meta), inputs=shapes)

    def _infer_block(self, spec: NodeSpec, name: str, params: Mapping[str, Any],
                     sub: Subgraph, inputs: Mapping[str, Source]) -> NodeState:
        """Infer a closed block's inside with the shapes wired into it. Its outputs are the
        mapped inner outputs; an error inside names the inner node:
        ``ResNetBasicBlock 'block1': Conv2d 'conv1' expects ...``."""
        shapes = {p: s.shape for p, s in inputs.items()}
        feeds: dict[tuple[str, str], Source] = {}
        unwired: dict[tuple[str, str], InPort] = {}
        for port in sub.inputs:
            src = inputs.get(port.name)
            for t in port.targets:
                if src is not None:
                    feeds[t] = src
                else:
                    unwired[t] = port
        into: dict[str, list] = {n.id: [] for n in sub.nodes}
        for s, sp, d, dp in sub.edges:
            into[d].append((dp, s, sp))
        nodes = {n.id: n for n in sub.nodes}
        inner: dict[str, NodeState] = {}
        error: tuple[str, NodeState] | None = None
        for local in sub.order():
            n = nodes[local]
            ins: dict[str, Source] = {}
            blocked = None
            for dp, s, sp in into[local]:
                up = inner[s]
                if not up.ok:
                    blocked = s
                    break
                ins[dp] = Source(up.outputs[sp], nodes[s].name, nodes[s].type, sp, s,
                                 up.meta.get(sp))
            if blocked is not None:
                inner[local] = NodeState("blocked", message=f"waiting for "
                                                            f"'{nodes[blocked].name}'")
                continue
            for (l, p), src in feeds.items():
                if l == local:
                    ins[p] = src
            state = self.infer_one(n.type, n.name, n.params, n.subgraph, ins)
            inner[local] = state
            if state.status == "error" and error is None:
                error = (local, state)
        if error is not None:
            local, state = error
            missing = [p for (l, q), p in unwired.items() if l == local and q not in
                       {dp for dp, _, _ in into[local]}]
            if missing and "nothing wired" in state.message:
                port = missing[0]
                what = f": connect {port.doc}" if port.doc else ""
                message = f"{spec.type} '{name}' has nothing wired into its '{port.name}' " \
                          f"port{what}."
                return NodeState("error", message=message, inputs=shapes, inner=inner)
            fix = _valid_fix(spec, state.fix) if state.fix and \
                any(t[0] == local for p in sub.inputs for t in p.targets) else None
            return NodeState("error", message=f"{spec.type} '{name}': {state.message}",
                             fix=fix, inputs=shapes, inner=inner)
        outputs, meta = {}, {}
        for port in sub.outputs:
            st = inner[port.source[0]]
            outputs[port.name] = st.outputs[port.source[1]]
            if port.source[1] in st.meta:
                meta[port.name] = st.meta[port.source[1]]
        return NodeState("ok", outputs=outputs, meta=meta, inputs=shapes, inner=inner)


def _valid_fix(spec: NodeSpec, fix: tuple[str, Any] | None) -> tuple[str, Any] | None:
    """``fix`` if the node's own param accepts its value (the inspector offers it as a
    button), else None: a fix the param would refuse is no fix."""
    if fix is None:
        return None
    pspec = spec.param(fix[0])
    if pspec is None:
        return None
    try:
        return (fix[0], pspec.coerce(fix[1]))
    except (ParamError, TypeError, ValueError):
        return None


#: Bytes a parameter costs in training: float32 weight, gradient and Adam's two moments.
BYTES_PER_PARAM = 4 * 4
#: Bytes an activation value costs in training: float32, and its gradient in backward.
BYTES_PER_ACTIVATION = 4 * 2


def _values(outputs: Mapping[str, Any], n: int) -> int:
    """Values in ``outputs`` (port -> shape) for a batch of ``n``: every None dim is N."""
    total = 0
    for shape in outputs.values():
        if isinstance(shape, tuple):
            try:
                total += prod(n if d is None else int(d) for d in shape)
            except (TypeError, ValueError):
                pass
    return total


def _param_count(spec: NodeSpec, params, shapes, outputs) -> int:
    if spec.cost is None:
        return 0
    try:
        return int(spec.cost(params, shapes, outputs).params)
    except Exception:  # noqa: BLE001 - a cost the shapes cannot give counts nothing
        return 0


#: Normalisations over the batch: training them needs more than one value per channel.
BATCH_NORMS = frozenset({"BatchNorm1d", "BatchNorm2d"})


def _one_value_per_channel(spec: NodeSpec, name: str, shapes, batch_size: int | None) -> str:
    """A message if a batch norm would see one value per channel in training (batch_size
    1 and no length or image dims): the engine refuses it, as PyTorch does ("Expected more
    than 1 value per channel when training"), so it is refused here first."""
    if spec.type not in BATCH_NORMS or batch_size != 1:
        return ""
    shape = shapes.get("input")
    if not isinstance(shape, tuple) or len(shape) < 2 or \
            prod(1 if d is None else d for d in shape[2:]) > 1:
        return ""
    return (f"{spec.type} '{name}' normalises each channel over the batch, but at "
            f"batch_size 1 its input {format_shape(shape)} gives it one value per channel, "
            "which cannot be normalised (PyTorch refuses it too). Raise training.batch_size "
            "to 2 or more, or use LayerNorm.")


def _over_activation_budget(spec: NodeSpec, name: str, outputs, batch_size: int | None
                            ) -> str:
    """A message if the node's outputs at ``batch_size`` (one example when None), with
    their gradients, would not fit in the memory budget, else ``""``."""
    n = batch_size or 1
    values = _values(outputs, n)
    budget = memory_budget()
    if BYTES_PER_ACTIVATION * values <= budget:
        return ""
    per_example = _values(outputs, 1)
    fits = budget // (BYTES_PER_ACTIVATION * per_example) if per_example else 0
    shapes = ", ".join(format_shape(s) for s in outputs.values() if isinstance(s, tuple))
    at = f"at batch_size {n:,}" if batch_size else "for one example"
    fix = (f"Lower training.batch_size to at most {fits:,}, or make its output smaller"
           if fits >= 1 and batch_size else "Make its output smaller")
    return (f"{spec.type} '{name}' would output {shapes}: {values:,} values {at}, "
            f"{format_bytes(BYTES_PER_ACTIVATION * values)} as float32 with their gradients, "
            f"over the {format_bytes(budget)} this machine allows ({budget_text()}). {fix} "
            "(fewer features or channels, a smaller image or sequence).")


def param_budget() -> int:
    """Most parameters one node may have: :func:`playground.project.limits.memory_budget`
    (a quarter of the machine's memory) over :data:`BYTES_PER_PARAM`."""
    return memory_budget() // BYTES_PER_PARAM


def _over_budget(spec: NodeSpec, name: str, params, shapes, outputs) -> str:
    """A message if the node's parameters would not fit in memory (``Linear(10**6,
    10**6)`` passes its ranges but needs 16 TB to train), else ``""``."""
    count = _param_count(spec, params, shapes, outputs)
    limit = param_budget()
    if count <= limit:
        return ""
    return (f"{spec.type} '{name}' would have {count:,} parameters: "
            f"{format_bytes(4 * count)} as float32, {format_bytes(BYTES_PER_PARAM * count)} "
            f"to train with Adam, over the {format_bytes(memory_budget())} this machine "
            f"allows ({budget_text()}; at most {limit:,} parameters per node). "
            f"Make it smaller (fewer features or channels).")
