"""Blocks on the canvas: open a block in place, close it again, group a selection into a
new block and ungroup one for good (a mixin of :class:`~playground.graph.model.GraphModel`).

An open block is an *open group*: its inner nodes (ids ``"<block id>/<local id>"``) sit in
the graph, the canvas draws a frame round them, and :class:`~.records.GroupInfo` keeps what
the group folds back into.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping

import networkx as nx

from .composite import CompositeError, InPort, OutPort, SubNode, Subgraph, subgraph_extent, \
    is_composite
from .layout import FRAME_HEADER, FRAME_PAD
from .records import Edge, GroupInfo, NodeRecord, Replacement


@dataclass(frozen=True)
class _Closure:
    """What closing a block replaced, kept so that reopening the unchanged block (undo of
    the close) restores it exactly: the block's inside, place and wires as the close made
    them, the group, and the records of its members."""

    subgraph: Subgraph
    pos: tuple[float, float]
    edges: frozenset
    info: GroupInfo
    members: tuple[NodeRecord, ...]
    index: int  # its place among the open groups


class GroupEdits:
    """Open, close, group, ungroup, dissolve and restore blocks. Mixed into GraphModel; it
    uses the model's graph, ``_groups`` and ``_apply``."""

    def _expand(self, node_id: str, ids: Mapping[str, str], offset: tuple[float, float],
                group: str | None) -> tuple[list[NodeRecord], list[Edge]]:
        """Records for a block's inner nodes (local id -> ``ids[local]``) and every wire
        that replaces the block's (inner wires and the outer wires, re-ended)."""
        attrs = self.graph.nodes[node_id]
        sub: Subgraph = attrs["subgraph"]
        x, y = attrs["pos"]
        records = [NodeRecord(ids[n.id], n.type, n.name, dict(n.params),
                              (x + offset[0] + n.pos[0], y + offset[1] + n.pos[1]), (),
                              n.subgraph, attrs["order"] + (k,), group)
                   for k, n in enumerate(sub.nodes)]
        edges = [Edge(ids[s], sp, ids[d], dp) for s, sp, d, dp in sub.edges]
        for e in self.in_edges(node_id):
            port = sub.input(e.dst_port)
            for local, p in (port.targets if port else ()):
                edges.append(Edge(e.src, e.src_port, ids[local], p))
        for e in self.out_edges(node_id):
            port = sub.output(e.src_port)
            if port is not None:
                edges.append(Edge(ids[port.source[0]], port.source[1], e.dst, e.dst_port))
        return records, edges

    def open_composite(self, node_id: str) -> str:
        """Replace a closed block by its inner nodes, ids ``"<node_id>/<local id>"``, in an
        open group whose id is ``node_id``. Nodes to the right of (and below) the block move
        to make room; closing moves them back. Returns the group id.

        Raises:
            CompositeError: the node is not a block, or an inner id is taken.
        """
        attrs = self.graph.nodes[node_id]
        sub = attrs.get("subgraph")
        if sub is None:
            raise CompositeError(f"{attrs['type']} '{attrs['name']}' is not a block; only "
                                 "blocks open")
        closure = self._closures.pop(node_id, None)
        if closure is not None and self._is_as_closed(node_id, closure):
            return self._reopen(node_id, closure)
        ids = {n.id: f"{node_id}/{n.id}" for n in sub.nodes}
        taken = [i for i in ids.values() if i in self.graph or i in self._groups]
        if taken:
            raise CompositeError(f"cannot open '{attrs['name']}': the id {taken[0]!r} is taken")
        records, edges = self._expand(node_id, ids, (FRAME_PAD, FRAME_HEADER), node_id)
        x, y = attrs["pos"]
        w, h = subgraph_extent(sub, self.registry)
        w0, h0 = self.estimate_size(node_id)
        dx = float(round(max(0.0, w + 2 * FRAME_PAD - w0 + 20)))
        dy = float(round(max(0.0, h + FRAME_HEADER + FRAME_PAD - h0 + 20)))
        shifts, moves = [], {}
        for n, a in sorted(self.graph.nodes(data=True), key=lambda na: na[1]["order"]):
            if n == node_id:  # in node order: the same shifts whatever the edit history
                continue
            nx_, ny_ = a["pos"]
            if nx_ > x + 1 and dx:
                shifts.append((n, dx, 0.0))
                moves[n] = (nx_ + dx, ny_)
            elif ny_ > y + 1 and nx_ < x + w + 2 * FRAME_PAD and \
                    nx_ + self.estimate_size(n)[0] > x and dy:
                shifts.append((n, 0.0, dy))
                moves[n] = (nx_, ny_ + dy)
        parent = attrs.get("group")
        info = GroupInfo(
            node_id, attrs["type"], attrs["name"], dict(attrs["params"]), attrs["pos"],
            attrs["order"], tuple(r.id for r in records), parent,
            tuple(replace(p, targets=tuple((ids[l], q) for l, q in p.targets))
                  for p in sub.inputs),
            tuple(replace(p, source=(ids[p.source[0]], p.source[1])) for p in sub.outputs),
            tuple(shifts))
        members = tuple(r.id for r in records)
        self._groups[node_id] = replace(info, members=())
        try:
            self._apply(remove=[node_id], add=records, edges=edges, moves=moves,
                        after=lambda: self._opened(node_id, members, parent))
        except Exception:
            self._groups.pop(node_id, None)
            raise
        return node_id

    def _opened(self, group_id: str, members, parent) -> None:
        self._groups[group_id] = replace(self._groups[group_id], members=tuple(members))
        self.group_opened.emit(group_id)
        if parent is not None:
            self.group_changed.emit(parent)

    def close_composite(self, group_id: str) -> str:
        """Fold an open group back into one block node (id ``group_id``) whose inside is the
        group's members as they are now. Returns the node id.

        Raises:
            CompositeError: a block opened inside it is still open, or a wire
                leaves it and comes back through an outside node (closing would close a
                cycle).
        """
        info = self._groups[group_id]
        inner = self.child_groups(group_id)
        if inner:
            raise CompositeError(f"close '{self._groups[inner[0]].name}' first: it is open "
                                 f"inside '{info.name}'")
        members = sorted((m for m in info.members if m in self.graph),
                         key=lambda m: self.graph.nodes[m]["order"])
        # an empty group (its nodes deleted, or an empty block opened) closes into an
        # empty block: refusing would leave an opened empty block that cannot be undone
        record, ports_edges = self._fold(group_id, members, info, info.parent)
        moves = {}
        for n, dx, dy in info.shifts:
            if n in self.graph and n not in members:
                px, py = self.graph.nodes[n]["pos"]
                moves[n] = (px - dx, py - dy)

        def closing():
            self._groups.pop(group_id, None)
            self.group_closed.emit(group_id)

        closure = _Closure(record.subgraph, record.pos, frozenset(ports_edges), info,
                           tuple(self._record(m) for m in members),
                           list(self._groups).index(group_id))
        self._apply(remove=members, add=[replace(record, edges=())], edges=ports_edges,
                    moves=moves, before=closing)
        self._closures[group_id] = closure
        return group_id

    def _is_as_closed(self, node_id: str, closure: "_Closure") -> bool:
        """Whether a block is as :meth:`close_composite` left it (same inside, place and
        wires, and its members' ids free), so that opening it can restore it exactly."""
        attrs = self.graph.nodes[node_id]
        return (attrs.get("subgraph") is closure.subgraph and attrs["pos"] == closure.pos
                and attrs.get("group") == closure.info.parent
                and frozenset(self.in_edges(node_id) + self.out_edges(node_id)) == closure.edges
                and not any(r.id in self.graph or r.id in self._groups
                            for r in closure.members))

    def _reopen(self, node_id: str, closure: "_Closure") -> str:
        """Open a block exactly as it was before it closed: the same member ids, places and
        wires, the same port maps and shifts (undo of a close is its exact inverse)."""
        info, members = closure.info, tuple(r.id for r in closure.members)
        mset = set(members)
        moves = {}
        for n, dx, dy in info.shifts:
            if n in self.graph and n != node_id and n not in mset:
                px, py = self.graph.nodes[n]["pos"]
                moves[n] = (px + dx, py + dy)
        items = [(k, v) for k, v in self._groups.items() if k != node_id]
        items.insert(min(closure.index, len(items)), (node_id, replace(info, members=())))
        self._groups = dict(items)  # back in its place in the opening order
        try:
            self._apply(remove=[node_id], add=closure.members,
                        edges=[e for r in closure.members for e in r.edges], moves=moves,
                        check=True, after=lambda: self._opened(node_id, members, info.parent))
        except Exception:
            self._groups.pop(node_id, None)
            raise
        return node_id

    def _fold(self, node_id: str, members: list[str], info: GroupInfo | None,
              parent: str | None) -> tuple[NodeRecord, list[Edge]]:
        """The block node that ``members`` fold into, and its outer wires.

        Port maps: the group's own (``info``) where they still apply; every other wire that
        crosses the boundary gets a new port (one per outside source, one per inside
        output).
        """
        g = self.graph
        mset = set(members)
        self._check_foldable(members, info.name if info else node_id)
        strip = f"{node_id}/"
        parent_strip = f"{parent}/" if parent else ""
        locals_: dict[str, str] = {}
        for m in members:
            local = m[len(strip):] if m.startswith(strip) else \
                m[len(parent_strip):] if parent_strip and m.startswith(parent_strip) else m
            if info is None:
                local = local.replace("/", "_")
            base, k = local, 2
            while local in locals_.values():
                local, k = f"{base}_{k}", k + 1
            locals_[m] = local
        xs = [g.nodes[m]["pos"][0] for m in members]
        ys = [g.nodes[m]["pos"][1] for m in members]
        off = (FRAME_PAD, FRAME_HEADER) if info is not None else (0.0, 0.0)
        ox, oy = (min(xs), min(ys)) if members else \
            (info.pos[0] + off[0], info.pos[1] + off[1]) if info is not None else (0.0, 0.0)
        nodes = tuple(SubNode(locals_[m], g.nodes[m]["type"], g.nodes[m]["name"],
                              dict(g.nodes[m]["params"]),
                              (round(g.nodes[m]["pos"][0] - ox, 2),
                               round(g.nodes[m]["pos"][1] - oy, 2)),
                              g.nodes[m].get("subgraph"))
                      for m in members)
        inner_edges, ins, outs = [], [], []
        for m in members:
            for e in self.in_edges(m):
                if e.src in mset:
                    inner_edges.append((locals_[e.src], e.src_port, locals_[m], e.dst_port))
                else:
                    ins.append(e)
            for e in self.out_edges(m):
                if e.dst not in mset:
                    outs.append(e)
        # inputs: the group's own ports first (each keeps the outside source that feeds
        # its targets), then one new port per other outside source
        stored = list(info.inputs) if info else []
        in_ports: list[list] = []  # [name, kind, doc, targets, source or None]
        owner: dict[tuple[str, str], int] = {}
        for p in stored:
            targets = [t for t in p.targets if t[0] in mset and
                       not any(e.src in mset and e.dst_port == t[1] for e in self.in_edges(t[0]))]
            in_ports.append([p.name, p.kind, p.doc, targets, None])
            for t in targets:
                owner[t] = len(in_ports) - 1
        names = {p.name for p in stored}
        new_edges: list[Edge] = []
        rest = []
        for e in ins:
            t, src = (e.dst, e.dst_port), (e.src, e.src_port)
            i = owner.get(t)
            if i is None or in_ports[i][4] not in (None, src):
                if i is not None:
                    in_ports[i][3].remove(t)
                rest.append(e)
                continue
            if in_ports[i][4] is None:
                in_ports[i][4] = src
                new_edges.append(Edge(e.src, e.src_port, node_id, in_ports[i][0]))
        for e in rest:
            t, src = (e.dst, e.dst_port), (e.src, e.src_port)
            i = next((k for k, p in enumerate(in_ports) if p[4] == src), None)
            if i is None:
                spec_port = self.input_port(e.dst, e.dst_port)
                name = _fresh(e.dst_port, names)
                names.add(name)
                in_ports.append([name, spec_port.kind if spec_port else "tensor",
                                 spec_port.doc if spec_port else "", [], src])
                i = len(in_ports) - 1
                new_edges.append(Edge(e.src, e.src_port, node_id, name))
            in_ports[i][3].append(t)
        inputs = tuple(InPort(name, tuple((locals_[m], q) for m, q in targets), kind, doc)
                       for name, kind, doc, targets, _ in in_ports)
        # outputs
        names = set()
        out_ports: list[OutPort] = []
        for p in (info.outputs if info else ()):
            if p.source[0] in mset:
                out_ports.append(p)
                names.add(p.name)
        for e in outs:
            src = (e.src, e.src_port)
            port = next((p for p in out_ports if p.source == src), None)
            if port is None:
                spec_port = self.output_port(e.src, e.src_port)
                port = OutPort(_fresh(e.src_port, names), src,
                               spec_port.kind if spec_port else "tensor",
                               spec_port.doc if spec_port else "")
                names.add(port.name)
                out_ports.append(port)
            new_edges.append(Edge(node_id, port.name, e.dst, e.dst_port))
        outputs = tuple(replace(p, source=(locals_[p.source[0]], p.source[1]))
                        for p in out_ports)
        sub = Subgraph(nodes, tuple(inner_edges), inputs, outputs)
        if info is not None:
            record = NodeRecord(node_id, info.type, info.name, dict(info.params),
                                (ox - off[0], oy - off[1]), (), sub, info.order, parent)
        else:
            record = NodeRecord(node_id, "Group", node_id, {}, (ox, oy), (), sub, None,
                                parent)
        return record, new_edges

    def _check_foldable(self, members: list[str], what: str) -> None:
        mset = set(members)
        down = set()
        for m in members:
            for e in self.out_edges(m):
                if e.dst not in mset:
                    down.add(e.dst)
                    down |= nx.descendants(self.graph, e.dst)
        back = [n for n in down - mset if any(e.dst in mset for e in self.out_edges(n))]
        if back:
            raise CompositeError(
                f"cannot fold '{what}' into one node: '{self.name(back[0])}' is outside it but "
                f"takes an output from inside and feeds back in, which would close a cycle. "
                f"Move '{self.name(back[0])}' inside, or rewire it.")

    def check_group(self, node_ids: Iterable[str]) -> list[str]:
        """Raise the CompositeError that :meth:`group_nodes` would raise, or return the ids
        in node order."""
        ids = sorted(dict.fromkeys(node_ids), key=lambda n: self.graph.nodes[n]["order"])
        if not ids:
            raise CompositeError("select the nodes to group first")
        for n in ids:
            spec = self.spec(n)
            if spec.build is None and not is_composite(spec):
                raise CompositeError(f"{spec.type} '{self.name(n)}' feeds data from outside "
                                     "and stays outside groups; select the nodes after it")
        if len({self.group_of(n) for n in ids}) > 1:
            raise CompositeError("the selection spans different open blocks; group nodes of "
                                 "one block at a time")
        self._check_foldable(ids, "the selection")
        return ids

    def check_close(self, group_id: str) -> None:
        """Raise the CompositeError that closing ``group_id`` (with the blocks open inside
        it first) would raise, or return."""
        for child in self.child_groups(group_id):
            self.check_close(child)
        info = self._groups[group_id]
        members = [m for m in self.group_members(group_id) if m in self.graph]
        self._check_foldable(members, info.name)

    def group_nodes(self, node_ids: Iterable[str], node_id: str | None = None,
                    name: str | None = None) -> Replacement:
        """Fold the given nodes into a new closed "Group" block whose ports are the wires
        that cross the selection's boundary. Returns the Replacement (its ``added`` holds
        the block's id); ``replace_nodes(r.added, r.removed)`` undoes it.

        The grouped nodes get new ids inside the block, so their weights start afresh.

        Raises:
            CompositeError: no nodes, a data source among them (sources stay outside), nodes
                from different open blocks, or an outside node between two of them.
        """
        ids = self.check_group(node_ids)
        parent = self.group_of(ids[0])
        node_id = node_id or self.new_id("Group")
        record, edges = self._fold(node_id, ids, None, parent)
        record = replace(record, name=name or node_id, edges=tuple(edges))
        return self.replace_nodes(ids, [record])

    def ungroup(self, node_id: str) -> Replacement:
        """Open a closed block for good: its inner nodes take its place, with their local
        ids where those are free (else ``"<node_id>/<local id>"``). Returns the Replacement;
        ``replace_nodes(r.added, r.removed)`` undoes it.

        Raises:
            CompositeError: the node is not a block.
        """
        attrs = self.graph.nodes[node_id]
        sub = attrs.get("subgraph")
        if sub is None:
            raise CompositeError(f"{attrs['type']} '{attrs['name']}' is not a block")
        ids: dict[str, str] = {}
        for n in sub.nodes:
            for candidate in (n.id, f"{node_id}/{n.id}"):
                if candidate not in self.graph and candidate not in self._groups and \
                        candidate not in ids.values():
                    break
            else:
                candidate = _fresh(f"{node_id}/{n.id}", set(self.graph) | set(ids.values()))
            ids[n.id] = candidate
        records, edges = self._expand(node_id, ids, (0.0, 0.0), attrs.get("group"))
        by_id = {r.id: r for r in records}
        for e in edges:  # every wire goes with the records (restored when both ends exist)
            r = by_id.get(e.dst) or by_id.get(e.src)
            by_id[r.id] = replace(r, edges=r.edges + (e,))
        return self.replace_nodes([node_id], [by_id[r.id] for r in records])

    def dissolve_group(self, group_id: str) -> tuple[GroupInfo, tuple[str, ...]]:
        """Keep an open block open for good: its members become ordinary nodes (of the
        enclosing group, if any). Returns ``(info, child groups)`` for
        :meth:`restore_group`."""
        self._dissolved[group_id] = list(self._groups).index(group_id)
        info = self._groups.pop(group_id)
        self.group_closed.emit(group_id)
        members = tuple(m for m in info.members if m in self.graph)
        for m in members:
            if info.parent is None:
                self.graph.nodes[m].pop("group", None)
            else:
                self.graph.nodes[m]["group"] = info.parent
        children = tuple(g for g, c in self._groups.items() if c.parent == group_id)
        for g in children:
            self._groups[g] = replace(self._groups[g], parent=info.parent)
        if info.parent is not None:
            p = self._groups[info.parent]
            self._groups[info.parent] = replace(p, members=p.members + members)
            self.group_changed.emit(info.parent)
        return info, children

    def restore_group(self, info: GroupInfo, children: Iterable[str] = ()) -> None:
        """Undo :meth:`dissolve_group`."""
        members = set(info.members)
        if info.parent is not None:
            p = self._groups[info.parent]
            self._groups[info.parent] = replace(p, members=tuple(
                m for m in p.members if m not in members))
        for g in children:
            self._groups[g] = replace(self._groups[g], parent=info.id)
        for m in info.members:
            if m in self.graph:
                self.graph.nodes[m]["group"] = info.id
        items = list(self._groups.items())  # back in its place in the opening order
        items.insert(min(self._dissolved.pop(info.id, len(items)), len(items)), (info.id, info))
        self._groups = dict(items)
        self.group_opened.emit(info.id)
        if info.parent is not None:
            self.group_changed.emit(info.parent)


def _fresh(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"
