"""Composite node types: a block (ResNet block, Inception module, LSTM cell...) drawn as one
node that opens in place into its primitive subgraph.

- :class:`Subgraph` is the inside of a block: its nodes (with local ids), its wires and its
  port maps (each input port of the block feeds a list of inner ports; each output port is
  one inner output). It is plain data and serialises to JSON like a graph object.
- :class:`CompositeSpec` is a :class:`~playground.graph.spec.NodeSpec` whose ``template``
  makes the subgraph from the block's params. It is registered like any node type, so the
  palette lists it (category "Blocks").
- :class:`Builder` writes templates as data against node type names (``"Conv2d"``...).

A composite node instance keeps its own subgraph (the model stores it in the node's
``subgraph`` attribute), so edits made inside an open block survive closing it, saving and
loading. The model's ``open_composite`` / ``close_composite`` / ``group_nodes`` /
``ungroup`` do the editing; ``compile()`` inlines closed blocks so that the open and closed
forms compute the same values, with parameters named ``"<block id>/<local id>.<param>"``
either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from .spec import REGISTRY, NodeSpec, PortSpec, Registry

Pos = tuple[float, float]
WireTuple = tuple[str, str, str, str]  # (src, src_port, dst, dst_port), local ids


class CompositeError(ValueError):
    """An open, close, group or ungroup that cannot be done; ``message`` says why and what
    to do instead."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SubNode:
    """One node inside a block: a local id (unique in the block), type, display name,
    params, position relative to the block's top-left corner and, for a nested block, its
    own subgraph."""

    id: str
    type: str
    name: str
    params: dict
    pos: Pos = (0.0, 0.0)
    subgraph: "Subgraph | None" = None


@dataclass(frozen=True)
class InPort:
    """An input port of a block and the inner ``(local id, port)`` inputs it feeds."""

    name: str
    targets: tuple[tuple[str, str], ...]
    kind: str = "tensor"
    doc: str = ""


@dataclass(frozen=True)
class OutPort:
    """An output port of a block and the inner ``(local id, port)`` output it shows."""

    name: str
    source: tuple[str, str]
    kind: str = "tensor"
    doc: str = ""


def _canonical(edges) -> tuple[WireTuple, ...]:
    return tuple(sorted(set(tuple(e) for e in edges)))


@dataclass(frozen=True)
class Subgraph:
    """The inside of a block. Immutable: editing a block replaces its subgraph.

    Wires are kept sorted, so two subgraphs with the same content compare equal.
    """

    nodes: tuple[SubNode, ...]
    edges: tuple[WireTuple, ...]
    inputs: tuple[InPort, ...]
    outputs: tuple[OutPort, ...]

    def __post_init__(self):
        object.__setattr__(self, "edges", _canonical(self.edges))

    # -- queries ------------------------------------------------------------------------

    def node(self, local: str) -> SubNode:
        for n in self.nodes:
            if n.id == local:
                return n
        raise KeyError(f"the block has no node {local!r}")

    def input(self, name: str) -> InPort | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> OutPort | None:
        return next((p for p in self.outputs if p.name == name), None)

    def input_specs(self) -> tuple[PortSpec, ...]:
        return tuple(PortSpec(p.name, p.kind, p.doc) for p in self.inputs)

    def output_specs(self) -> tuple[PortSpec, ...]:
        return tuple(PortSpec(p.name, p.kind, p.doc) for p in self.outputs)

    def order(self) -> list[str]:
        """Local ids, every node after the nodes that feed it (ties by listing order)."""
        index = {n.id: i for i, n in enumerate(self.nodes)}
        preds: dict[str, set[str]] = {n.id: set() for n in self.nodes}
        for s, _, d, _ in self.edges:
            preds[d].add(s)
        done: list[str] = []
        placed: set[str] = set()
        pending = sorted(index, key=index.__getitem__)
        while pending:
            ready = [n for n in pending if preds[n] <= placed]
            if not ready:
                raise CompositeError("the block's wires form a cycle")
            n = ready[0]
            done.append(n)
            placed.add(n)
            pending.remove(n)
        return done

    def leaf_count(self) -> int:
        """Primitive nodes inside, nested blocks counted by their own insides."""
        return sum(n.subgraph.leaf_count() if n.subgraph is not None else 1 for n in self.nodes)

    # -- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain JSON: like a graph object, plus the port maps."""
        nodes = []
        for n in self.nodes:
            d = {"id": n.id, "type": n.type, "name": n.name, "params": dict(n.params),
                 "pos": [round(n.pos[0], 2), round(n.pos[1], 2)]}
            if n.subgraph is not None:
                d["subgraph"] = n.subgraph.to_dict()
            nodes.append(d)
        return {
            "nodes": nodes,
            "edges": [{"src": s, "src_port": sp, "dst": d, "dst_port": dp}
                      for s, sp, d, dp in self.edges],
            "inputs": [{"name": p.name, "kind": p.kind, "doc": p.doc,
                        "targets": [list(t) for t in p.targets]} for p in self.inputs],
            "outputs": [{"name": p.name, "kind": p.kind, "doc": p.doc,
                         "source": list(p.source)} for p in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "subgraph") -> "Subgraph":
        """Read :meth:`to_dict`'s output back. Checks the structure (ids, wires and port
        maps refer to nodes of the block) but not the node types or params: the model
        does that when it infers the block.

        Raises:
            CompositeError: names the field at fault, e.g. ``subgraph.edges[3].dst``.
        """
        def need(obj, key, kind, at):
            if not isinstance(obj, dict) or key not in obj:
                raise CompositeError(f"{at}.{key} is missing")
            value = obj[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise CompositeError(f"{at}.{key} has the wrong type: {value!r}")
            return value

        if not isinstance(data, Mapping):
            raise CompositeError(f"{where} must be an object, got {data!r}")
        nodes, ids = [], set()
        for i, n in enumerate(data.get("nodes", [])):
            at = f"{where}.nodes[{i}]"
            local = need(n, "id", str, at)
            if local in ids:
                raise CompositeError(f"{at}.id: duplicate id {local!r}")
            ids.add(local)
            pos = n.get("pos", [0, 0])
            if not (isinstance(pos, (list, tuple)) and len(pos) == 2):
                raise CompositeError(f"{at}.pos must be [x, y], got {pos!r}")
            params = n.get("params", {})
            if not isinstance(params, dict):
                raise CompositeError(f"{at}.params must be an object, got {params!r}")
            sub = n.get("subgraph")
            nodes.append(SubNode(local, need(n, "type", str, at), str(n.get("name", local)),
                                 dict(params), (float(pos[0]), float(pos[1])),
                                 cls.from_dict(sub, f"{at}.subgraph") if sub is not None
                                 else None))
        edges = []
        for i, e in enumerate(data.get("edges", [])):
            at = f"{where}.edges[{i}]"
            wire = tuple(need(e, k, str, at) for k in ("src", "src_port", "dst", "dst_port"))
            for k, local in (("src", wire[0]), ("dst", wire[2])):
                if local not in ids:
                    raise CompositeError(f"{at}.{k}: the block has no node {local!r}")
            edges.append(wire)
        inputs = []
        for i, p in enumerate(data.get("inputs", [])):
            at = f"{where}.inputs[{i}]"
            targets = []
            for t in need(p, "targets", list, at):
                if not (isinstance(t, (list, tuple)) and len(t) == 2 and t[0] in ids):
                    raise CompositeError(f"{at}.targets: {t!r} is not [node id, port] of the "
                                         "block")
                targets.append((str(t[0]), str(t[1])))
            inputs.append(InPort(need(p, "name", str, at), tuple(targets),
                                 str(p.get("kind", "tensor")), str(p.get("doc", ""))))
        outputs = []
        for i, p in enumerate(data.get("outputs", [])):
            at = f"{where}.outputs[{i}]"
            src = need(p, "source", list, at)
            if not (len(src) == 2 and src[0] in ids):
                raise CompositeError(f"{at}.source: {src!r} is not [node id, port] of the "
                                     "block")
            outputs.append(OutPort(need(p, "name", str, at), (str(src[0]), str(src[1])),
                                   str(p.get("kind", "tensor")), str(p.get("doc", ""))))
        return cls(tuple(nodes), tuple(edges), tuple(inputs), tuple(outputs))


@dataclass(frozen=True)
class CompositeSpec(NodeSpec):
    """A block: a node type whose inside is a subgraph made by ``template(params)``.

    ``inputs`` / ``outputs`` list the block's ports; the template's port maps must use the
    same names. ``id_stem`` is the start of new node ids (``"block"`` -> ``block_1``).
    ``infer``/``build``/``cost`` stay None: the model infers a block through its subgraph,
    compile() inlines it and summary() adds up its members.
    """

    template: Callable[[Mapping[str, Any]], Subgraph] | None = field(default=None,
                                                                    compare=False)
    id_stem: str = ""

    def make_subgraph(self, params: Mapping[str, Any]) -> Subgraph:
        if self.template is None:
            return Subgraph((), (), (), ())
        return self.template(params)


def is_composite(spec: NodeSpec) -> bool:
    return isinstance(spec, CompositeSpec)


#: The node type of a user's group of nodes (Ctrl+G). Its ports are those of its instance.
GROUP = REGISTRY.register(CompositeSpec(
    type="Group",
    category="Blocks",
    description="A group of nodes drawn as one; double-click to open it.",
    id_stem="group",
))


# ------------------------------------------------------------------------ template builder


@dataclass(frozen=True)
class Ref:
    """An output of a node inside a template (``port`` None: the node's first output)."""

    node: str
    port: str | None = None

    def __getitem__(self, port: str) -> "Ref":
        return Ref(self.node, port)


@dataclass(frozen=True)
class InputRef:
    """An input port of the block being built."""

    name: str


class Builder:
    """Writes a block's subgraph as data::

        b = Builder()
        x = b.input("input", "x: (N, C, H, W)")
        h = b.add("conv1", "Conv2d", in_channels=c, out_channels=c, kernel_size=3,
                  padding=1, input=x)
        h = b.add("relu", "ReLU", input=h)
        b.output("output", h)
        sub = b.build()

    Keyword arguments of :meth:`add` whose value is a :class:`Ref` or :class:`InputRef`
    are wires into that input port; the rest are params (pass ``params={...}`` when a param
    name clashes with a port name). Positions come from the layered layout at build time.
    """

    def __init__(self, registry: Registry = REGISTRY):
        self.registry = registry
        self._nodes: list[SubNode] = []
        self._edges: list[WireTuple] = []
        self._inputs: dict[str, InPort] = {}
        self._outputs: list[OutPort] = []
        self._pending: list[tuple[str, str, Ref]] = []  # wires whose src port is implied

    def input(self, name: str, doc: str = "", kind: str = "tensor") -> InputRef:
        self._inputs[name] = InPort(name, (), kind, doc)
        return InputRef(name)

    def add(self, local: str, type_name: str, params: Mapping[str, Any] | None = None,
            name: str | None = None, subgraph: Subgraph | None = None, **kwargs) -> Ref:
        if any(n.id == local for n in self._nodes):
            raise ValueError(f"duplicate local id {local!r}")
        values = dict(params or {})
        for key, value in kwargs.items():
            if isinstance(value, (Ref, InputRef)):
                self._wire(value, local, key)
            else:
                values[key] = value
        spec = self.registry[type_name]
        values = spec.validate_params(values, local)
        if subgraph is None and is_composite(spec):
            subgraph = spec.make_subgraph(values)
        self._nodes.append(SubNode(local, type_name, name or local, values, (0.0, 0.0),
                                   subgraph))
        return Ref(local)

    def _wire(self, src: Ref | InputRef, dst: str, dst_port: str) -> None:
        if isinstance(src, InputRef):
            port = self._inputs[src.name]
            self._inputs[src.name] = replace(port, targets=port.targets + ((dst, dst_port),))
        else:
            self._pending.append((dst, dst_port, src))

    def wire(self, src: Ref | InputRef, dst: Ref, dst_port: str) -> None:
        """Wire ``src`` into ``dst.dst_port`` after both were added."""
        self._wire(src, dst.node, dst_port)

    def output(self, name: str, src: Ref, doc: str = "", kind: str = "tensor") -> None:
        self._outputs.append(OutPort(name, (src.node, src.port or ""), kind, doc))

    def _port_of(self, ref: Ref) -> str:
        if ref.port is not None and ref.port != "":
            return ref.port
        node = next(n for n in self._nodes if n.id == ref.node)
        spec = self.registry[node.type]
        outs = node.subgraph.output_specs() if node.subgraph is not None else spec.outputs
        return outs[0].name

    def build(self) -> Subgraph:
        for dst, dst_port, src in self._pending:
            self._edges.append((src.node, self._port_of(src), dst, dst_port))
        self._pending = []
        outputs = tuple(replace(p, source=(p.source[0], self._port_of(Ref(*p.source))))
                        for p in self._outputs)
        sub = Subgraph(tuple(self._nodes), tuple(self._edges), tuple(self._inputs.values()),
                       outputs)
        return arrange_subgraph(sub, self.registry)


def arrange_subgraph(sub: Subgraph, registry: Registry = REGISTRY) -> Subgraph:
    """``sub`` with its nodes laid out left to right (top-left corner at (0, 0))."""
    from .layout import estimate_size, layered_positions

    sizes = {}
    for n in sub.nodes:
        spec = registry[n.type]
        ports = (n.subgraph.input_specs(), n.subgraph.output_specs()) if n.subgraph else \
            (spec.inputs, spec.outputs)
        sizes[n.id] = estimate_size(spec, n.params, ports[0], ports[1], n.name)
    pos = layered_positions([n.id for n in sub.nodes], [(s, d) for s, _, d, _ in sub.edges],
                            sizes)
    return replace(sub, nodes=tuple(replace(n, pos=pos[n.id]) for n in sub.nodes))


def subgraph_extent(sub: Subgraph, registry: Registry = REGISTRY) -> tuple[float, float]:
    """Width and height the block's inside takes on the canvas when opened."""
    from .layout import estimate_size

    w = h = 0.0
    for n in sub.nodes:
        spec = registry[n.type] if n.type in registry else None
        if spec is None:
            continue
        ports = (n.subgraph.input_specs(), n.subgraph.output_specs()) if n.subgraph else \
            (spec.inputs, spec.outputs)
        nw, nh = estimate_size(spec, n.params, ports[0], ports[1], n.name)
        w, h = max(w, n.pos[0] + nw), max(h, n.pos[1] + nh)
    return w, h


def register_block(type_name: str, description: str, inputs: Sequence[PortSpec],
                   outputs: Sequence[PortSpec], params, template, id_stem: str = "block",
                   doc: str = "", category: str = "Blocks",
                   registry: Registry = REGISTRY) -> CompositeSpec:
    """Register a block type (see :mod:`playground.graph.blocks`)."""
    return registry.register(CompositeSpec(
        type=type_name, category=category, description=description, inputs=tuple(inputs),
        outputs=tuple(outputs), params=tuple(params), template=template, id_stem=id_stem,
        doc=doc))
