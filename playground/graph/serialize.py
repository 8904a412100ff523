"""The graph to and from the file format's ``graph`` object (a mixin of
:class:`~playground.graph.model.GraphModel`). Reading checks every type, param, port and
wire, and names the field at fault in a :class:`~.records.GraphFormatError`."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any, Mapping

from .composite import CompositeError, InPort, OutPort, Subgraph, is_composite
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
            out["groups"] = [self._group_to_dict(k) for k in self._groups]
        return out

    def _group_to_dict(self, group_id: str) -> dict:
        """An open group's entry, without the port targets and sources that name nodes no
        longer inside it (deleted while it was open: closing ignores them too)."""
        d = self._groups[group_id].to_dict()
        inside = set(d["members"]) | set(self.child_groups(group_id))
        for port in d["inputs"]:
            port["targets"] = [t for t in port["targets"] if t[0] in inside]
        d["outputs"] = [p for p in d["outputs"] if p["source"][0] in inside]
        return d

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
        _check_graph(data)
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
        groups = self._read_groups(data)
        for g in groups:
            for m in g.members:
                group_of[m] = g.id
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

    def _read_groups(self, data: Mapping) -> list[GroupInfo]:
        """The open groups of a checked ``graph`` object. A group's port targets and
        sources that name a node no longer inside it (one deleted while the block was
        open) are dropped, as closing the block would drop them."""
        node_ids = {n["id"]: n for n in data.get("nodes", [])}
        raw = data.get("groups") or []
        gids = [str(g["id"]) for g in raw]
        owner: dict[str, str] = {}
        groups = []
        for i, gdata in enumerate(raw):
            where = f"graph.groups[{i}]"
            gid = gids[i]
            if gid in node_ids or gid in gids[:i]:
                raise GraphFormatError(f"{where}.id", f"{where}.id: {gid!r} is already the id "
                                       "of a node or of another open block")
            spec = self.registry[gdata["type"]] if gdata["type"] in self.registry else None
            if spec is None or not is_composite(spec):
                raise GraphFormatError(f"{where}.type", f"{where}.type: {gdata['type']!r} is "
                                       "not a block type")
            try:
                params = spec.validate_params(gdata.get("params", {}),
                                              owner=gdata.get("name") or gid)
            except ParamError as exc:
                raise GraphFormatError(f"{where}.params", f"{where}.params: {exc}") from None
            parent = gdata.get("parent")
            if parent is not None and (parent not in gids or parent == gid):
                raise GraphFormatError(f"{where}.parent", f"{where}.parent: there is no other "
                                       f"open block {parent!r}")
            members = tuple(gdata.get("members", []))
            for k, m in enumerate(members):
                if m not in node_ids:
                    raise GraphFormatError(f"{where}.members[{k}]", f"{where}.members[{k}]: "
                                           f"there is no node {m!r}")
                if m in owner:
                    raise GraphFormatError(f"{where}.members[{k}]", f"{where}.members[{k}]: "
                                           f"{m!r} is already inside '{owner[m]}'")
                owner[m] = gid
            inside = set(members) | {g for g, d in zip(gids, raw) if d.get("parent") == gid}
            inputs = tuple(InPort(p["name"], tuple((t[0], t[1]) for t in p["targets"]
                                                   if t[0] in inside),
                                  p.get("kind", "tensor"), p.get("doc", ""))
                           for p in gdata.get("inputs", []))
            outputs = tuple(OutPort(p["name"], (p["source"][0], p["source"][1]),
                                    p.get("kind", "tensor"), p.get("doc", ""))
                            for p in gdata.get("outputs", []) if p["source"][0] in inside)
            pos = gdata.get("pos", [0, 0])
            groups.append(GroupInfo(gid, spec.type, gdata.get("name") or gid, params,
                                    (float(pos[0]), float(pos[1])), (), members, parent,
                                    inputs, outputs,
                                    tuple((n, float(dx), float(dy))
                                          for n, dx, dy in gdata.get("shifts", []))))
        for i, g in enumerate(groups):  # parents form a tree
            seen, up = {g.id}, g.parent
            while up is not None:
                if up in seen:
                    raise GraphFormatError(f"graph.groups[{i}].parent",
                                           f"graph.groups[{i}].parent: the open blocks' "
                                           "parents go round in a circle")
                seen.add(up)
                up = groups[gids.index(up)].parent
        return groups

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


# ------------------------------------------------------------------ structure of the object

def _fail(where: str, what: str, value: Any) -> None:
    text = repr(value)
    raise GraphFormatError(where, f"{where} must be {what}, got "
                                  f"{text[:60] + '...' if len(text) > 60 else text}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _field(obj: Mapping, key: str, where: str, kind: str, required: bool = False) -> Any:
    """``obj[key]`` checked to be of ``kind``: "str", "opt_str", "dict", "list", "pos"
    (two finite numbers) or "pair" (two strings)."""
    at = f"{where}.{key}"
    if key not in obj:
        if required:
            raise GraphFormatError(at, f"{at} is missing")
        return None
    v = obj[key]
    ok = {"str": lambda: isinstance(v, str),
          "opt_str": lambda: v is None or isinstance(v, str),
          "dict": lambda: isinstance(v, Mapping),
          "opt_dict": lambda: v is None or isinstance(v, Mapping),
          "list": lambda: isinstance(v, (list, tuple)),
          "pos": lambda: isinstance(v, (list, tuple)) and len(v) == 2 and
          all(_is_number(x) for x in v),
          "pair": lambda: isinstance(v, (list, tuple)) and len(v) == 2 and
          all(isinstance(x, str) for x in v)}[kind]()
    if not ok:
        _fail(at, {"str": "a string", "opt_str": "a string or null", "dict": "an object",
                   "opt_dict": "an object or null", "list": "a list",
                   "pos": "two finite numbers [x, y]",
                   "pair": "[node id, port]"}[kind], v)
    return v


def _items(obj: Mapping, key: str, where: str, required: bool = False):
    for i, item in enumerate(_field(obj, key, where, "list", required) or ()):
        at = f"{where}.{key}[{i}]"
        if not isinstance(item, Mapping):
            _fail(at, "an object", item)
        yield at, item


def _check_node(node: Mapping, where: str) -> None:
    _field(node, "id", where, "str", True)
    _field(node, "type", where, "str", True)
    _field(node, "name", where, "opt_str")
    _field(node, "params", where, "dict")
    _field(node, "pos", where, "pos")
    sub = _field(node, "subgraph", where, "opt_dict")
    if sub is not None:
        _check_ports_and_parts(sub, f"{where}.subgraph", inside=True)


def _check_ports_and_parts(obj: Mapping, where: str, inside: bool) -> None:
    if inside:
        for at, n in _items(obj, "nodes", where):
            _check_node(n, at)
        for at, e in _items(obj, "edges", where):
            for k in ("src", "src_port", "dst", "dst_port"):
                _field(e, k, at, "str", True)
    for at, p in _items(obj, "inputs", where):
        _field(p, "name", at, "str", True)
        for k, t in enumerate(_field(p, "targets", at, "list", True)):
            if not (isinstance(t, (list, tuple)) and len(t) == 2 and
                    all(isinstance(x, str) for x in t)):
                _fail(f"{at}.targets[{k}]", "[node id, port]", t)
        _field(p, "kind", at, "str")
        _field(p, "doc", at, "str")
    for at, p in _items(obj, "outputs", where):
        _field(p, "name", at, "str", True)
        _field(p, "source", at, "pair", True)
        _field(p, "kind", at, "str")
        _field(p, "doc", at, "str")


def _check_graph(data: Any) -> None:
    """Check the types of every field of a ``graph`` object (blocks' insides and open
    groups included) so that reading it can trust them.

    Raises:
        GraphFormatError: names the first field of the wrong type.
    """
    if not isinstance(data, Mapping):
        _fail("graph", "an object with 'nodes' and 'edges'", data)
    for at, n in _items(data, "nodes", "graph", True):
        _check_node(n, at)
    for at, e in _items(data, "edges", "graph"):
        for k in ("src", "src_port", "dst", "dst_port"):
            _field(e, k, at, "str", True)
    if data.get("groups") is None:
        return
    for at, g in _items(data, "groups", "graph"):
        _field(g, "id", at, "str", True)
        _field(g, "type", at, "str", True)
        _field(g, "name", at, "opt_str")
        _field(g, "params", at, "dict")
        _field(g, "pos", at, "pos")
        _field(g, "parent", at, "opt_str")
        for k, m in enumerate(_field(g, "members", at, "list") or ()):
            if not isinstance(m, str):
                _fail(f"{at}.members[{k}]", "a node id (a string)", m)
        for k, sh in enumerate(_field(g, "shifts", at, "list") or ()):
            if not (isinstance(sh, (list, tuple)) and len(sh) == 3 and isinstance(sh[0], str)
                    and _is_number(sh[1]) and _is_number(sh[2])):
                _fail(f"{at}.shifts[{k}]", "[node id, dx, dy]", sh)
        _check_ports_and_parts(g, at, inside=False)
