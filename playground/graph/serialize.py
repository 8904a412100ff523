"""The graph to and from the file format's ``graph`` object (a mixin of
:class:`~playground.graph.model.GraphModel`). Reading checks every type, param, port and
wire, and names the field at fault in a :class:`~.records.GraphFormatError`."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any, Mapping

from .composite import CompositeError, Subgraph, is_composite
from .records import Edge, GraphFormatError, GroupInfo, NodeRecord, WiringError
from .spec import REGISTRY, ParamError, Registry


class GraphFile:
    """``to_dict``, ``from_dict`` and ``load``. Mixed into GraphModel."""

    def to_dict(self) -> dict:
        """The graph as the file format's ``graph`` object (plain JSON types).

        Nodes are listed in their order, wires by their ends' order. A block carries its
        inside as ``subgraph``; open blocks are listed under ``groups``.
        """
        g = self.graph
        order = {n: a["order"] for n, a in g.nodes(data=True)}
        nodes = []
        for n in sorted(g.nodes, key=order.__getitem__):
            a = g.nodes[n]
            d = {"id": n, "type": a["type"], "name": a["name"], "params": dict(a["params"]),
                 "pos": [round(a["pos"][0], 2), round(a["pos"][1], 2)]}
            if a.get("subgraph") is not None:
                d["subgraph"] = a["subgraph"].to_dict()
            nodes.append(d)
        edges = sorted(self.edges(), key=lambda e: (order[e.src], e.src_port, order[e.dst],
                                                    e.dst_port))
        out = {"nodes": nodes,
               "edges": [{"src": e.src, "src_port": e.src_port, "dst": e.dst,
                          "dst_port": e.dst_port} for e in edges]}
        if self._groups:
            out["groups"] = [self._groups[k].to_dict() for k in self._groups]
        return out

    @classmethod
    def from_dict(cls, data: Mapping, registry: Registry = REGISTRY):
        """Build a model from a file's ``graph`` object.

        Raises:
            GraphFormatError: names the field at fault, e.g. ``graph.nodes[2].type``.
        """
        model = cls(registry)
        model.load(data)
        return model

    def load(self, data: Mapping) -> None:
        """Replace everything with a file's ``graph`` object, as one edit (one shape
        inference). Checks everything first: on a GraphFormatError (which names the field)
        the model is left as it was."""
        records, edges, groups = self._read(data)
        probe = type(self)(self.registry)
        probe._groups = {g.id: g for g in groups}
        for r in records:  # wiring checks on a scratch graph, without events or inference
            probe.graph.add_node(r.id, type=r.type, name=r.name, params=r.params, pos=r.pos,
                                 order=r.order, **({"subgraph": r.subgraph}
                                                   if r.subgraph is not None else {}))
        for i, e in enumerate(edges):
            try:
                probe.check_connection(e.src, e.src_port, e.dst, e.dst_port)
            except WiringError as exc:
                raise GraphFormatError(f"graph.edges[{i}]",
                                       f"graph.edges[{i}]: {exc.message}") from None
            probe.graph.add_edge(e.src, e.dst, key=(e.src_port, e.dst_port), edge=e)
        self.clear()
        self._order = itertools.count(len(records))
        self._groups = {g.id: replace(g, members=()) for g in groups}
        self._apply(add=records, edges=edges)
        for g in groups:
            self._groups[g.id] = g
            self.group_opened.emit(g.id)
        if groups:
            self.states_changed.emit()

    def _read(self, data: Mapping) -> tuple[list[NodeRecord], list[Edge], list[GroupInfo]]:
        registry = self.registry
        records: list[NodeRecord] = []
        ids = set()
        group_of: dict[str, str] = {}
        groups = []
        for i, gdata in enumerate(data.get("groups", []) or []):
            where = f"graph.groups[{i}]"
            try:
                gid = str(gdata["id"])
                ins = Subgraph.from_dict({"nodes": [{"id": m, "type": "?"}
                                                    for m in gdata.get("members", [])],
                                          "inputs": gdata.get("inputs", []),
                                          "outputs": gdata.get("outputs", [])}, where)
                pos = gdata.get("pos", [0, 0])
                groups.append(GroupInfo(
                    gid, str(gdata["type"]), str(gdata.get("name", gid)),
                    dict(gdata.get("params", {})), (float(pos[0]), float(pos[1])), (),
                    tuple(str(m) for m in gdata.get("members", [])), gdata.get("parent"),
                    ins.inputs, ins.outputs,
                    tuple((str(n), float(dx), float(dy)) for n, dx, dy in
                          gdata.get("shifts", []))))
            except (KeyError, TypeError, ValueError) as exc:
                msg = exc.message if isinstance(exc, CompositeError) else str(exc)
                raise GraphFormatError(where, f"{where}: {msg}") from None
            if groups[-1].type not in registry:
                raise GraphFormatError(f"{where}.type",
                                       f"{where}.type: unknown block type {groups[-1].type!r}")
            for m in groups[-1].members:
                group_of[m] = gid
        for i, node in enumerate(data.get("nodes", [])):
            where = f"graph.nodes[{i}]"
            if node.get("type") not in registry:
                raise GraphFormatError(f"{where}.type",
                                       f"{where}.type: unknown node type {node.get('type')!r}; "
                                       f"known types: {', '.join(s.type for s in registry)}")
            if node["id"] in ids:
                raise GraphFormatError(f"{where}.id", f"{where}.id: duplicate id {node['id']!r}")
            ids.add(node["id"])
            spec = registry[node["type"]]
            try:
                params = spec.validate_params(node.get("params", {}),
                                              owner=node.get("name") or node["id"])
            except ParamError as exc:
                raise GraphFormatError(f"{where}.params", f"{where}.params: {exc}") from None
            sub = None
            if is_composite(spec):
                raw = node.get("subgraph")
                sub = spec.make_subgraph(params) if raw is None else \
                    self._read_subgraph(raw, f"{where}.subgraph")
            elif node.get("subgraph") is not None:
                raise GraphFormatError(f"{where}.subgraph",
                                       f"{where}.subgraph: {spec.type} is not a block")
            pos = node.get("pos", (0, 0))
            records.append(NodeRecord(node["id"], node["type"], node.get("name") or node["id"],
                                      params, (float(pos[0]), float(pos[1])), (), sub, (i,),
                                      group_of.get(node["id"])))
        first = {}
        for r in records:
            if r.group is not None:
                first.setdefault(r.group, r.order)
        groups = [replace(g, order=first.get(g.id, (len(records),))) for g in groups]
        edges = []
        for i, e in enumerate(data.get("edges", [])):
            try:
                edges.append(Edge(e["src"], e["src_port"], e["dst"], e["dst_port"]))
            except (KeyError, TypeError):
                raise GraphFormatError(f"graph.edges[{i}]",
                                       f"graph.edges[{i}] needs src, src_port, dst and "
                                       "dst_port") from None
            for k in ("src", "dst"):
                if getattr(edges[-1], k) not in ids:
                    raise GraphFormatError(f"graph.edges[{i}].{k}",
                                           f"graph.edges[{i}].{k}: there is no node "
                                           f"{getattr(edges[-1], k)!r}")
        return records, edges, groups

    def _read_subgraph(self, raw: Any, where: str) -> Subgraph:
        """A block's inside from a file, with every inner type, param and port checked."""
        try:
            sub = Subgraph.from_dict(raw, where)
        except CompositeError as exc:
            raise GraphFormatError(where, exc.message) from None
        nodes = []
        for i, n in enumerate(sub.nodes):
            at = f"{where}.nodes[{i}]"
            if n.type not in self.registry:
                raise GraphFormatError(f"{at}.type", f"{at}.type: unknown node type {n.type!r}")
            spec = self.registry[n.type]
            try:
                params = spec.validate_params(n.params, owner=n.name)
            except ParamError as exc:
                raise GraphFormatError(f"{at}.params", f"{at}.params: {exc}") from None
            inner = n.subgraph
            if is_composite(spec):
                inner = spec.make_subgraph(params) if raw["nodes"][i].get("subgraph") is None \
                    else self._read_subgraph(raw["nodes"][i]["subgraph"], f"{at}.subgraph")
            nodes.append(replace(n, params=params, subgraph=inner))
        sub = replace(sub, nodes=tuple(nodes))
        ports = {}
        for n in sub.nodes:
            spec = self.registry[n.type]
            ins = n.subgraph.input_specs() if n.subgraph else spec.inputs
            outs = n.subgraph.output_specs() if n.subgraph else spec.outputs
            ports[n.id] = ({p.name for p in ins}, {p.name for p in outs})
        for i, (s, sp, d, dp) in enumerate(sub.edges):
            if sp not in ports[s][1] or dp not in ports[d][0]:
                raise GraphFormatError(f"{where}.edges[{i}]",
                                       f"{where}.edges[{i}]: no port {s}.{sp} -> {d}.{dp}")
        for p in sub.inputs:
            for local, q in p.targets:
                if q not in ports[local][0]:
                    raise GraphFormatError(f"{where}.inputs",
                                           f"{where}.inputs: {local} has no input {q!r}")
        for p in sub.outputs:
            if p.source[1] not in ports[p.source[0]][1]:
                raise GraphFormatError(f"{where}.outputs",
                                       f"{where}.outputs: {p.source[0]} has no output "
                                       f"{p.source[1]!r}")
        try:
            sub.order()
        except CompositeError as exc:
            raise GraphFormatError(where, f"{where}: {exc.message}") from None
        return sub
