"""summary(): per-node output shape, parameter count and multiply-accumulates (MACs).

Counts are per example (batch dimension N = 1), with the formula behind each number:
Linear params ``in_features*out_features + out_features``, MACs ``in_features*out_features``
(one multiply-accumulate per weight per position).

A closed block is one row whose counts are the sums over the primitive nodes inside it
(nested blocks are expanded, so each primitive is counted exactly once); the row's
``children`` hold the breakdown. An open block's members are ordinary rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .model import GraphModel
from .spec import format_shape


@dataclass(frozen=True)
class SummaryRow:
    node: str              # node id
    name: str
    type: str
    input_shapes: dict
    output_shape: str      # formatted, e.g. "(N, 128)"; several outputs joined by ", "
    params: int
    macs: int
    params_formula: str
    macs_formula: str
    error: str = ""
    children: tuple["SummaryRow", ...] = ()   # a closed block's inside, one row per node
    group: str = ""                           # the open block the node lies in, if any


@dataclass(frozen=True)
class Summary:
    rows: list[SummaryRow]
    total_params: int
    total_macs: int

    @property
    def param_bytes(self) -> int:
        """Parameter memory in bytes at float32 (4 bytes each)."""
        return 4 * self.total_params

    def row(self, node_id: str) -> SummaryRow | None:
        return next((r for r in self.rows if r.node == node_id), None)

    def to_json(self) -> dict:
        """The ``playground summary --json`` object, as DESIGN.md fixes it."""
        return {
            "rows": [{"node": r.node, "type": r.type, "output_shape": r.output_shape,
                      "params": r.params, "macs": r.macs} for r in self.rows],
            "total_params": self.total_params,
            "total_macs": self.total_macs,
        }

    def to_text(self) -> str:
        head = f"{'node':<16} {'type':<18} {'output':<14} {'params':>10} {'MACs':>12}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.name:<16} {r.type:<18} {r.output_shape:<14} {r.params:>10,} "
                         f"{r.macs:>12,}" + (f"  ! {r.error}" if r.error else ""))
        lines.append("-" * len(head))
        lines.append(f"{'total':<50} {self.total_params:>10,} {self.total_macs:>12,}")
        lines.append(f"parameter memory: {self.param_bytes:,} bytes (float32)")
        return "\n".join(lines)


    # -- tables for elsewhere: spreadsheets and Markdown ----------------------------------

    #: Columns of :meth:`to_csv`.
    CSV_COLUMNS = ("node", "name", "type", "block", "input_shape", "output_shape", "params",
                   "macs", "params_formula", "macs_formula", "error")

    def flat_rows(self) -> list[SummaryRow]:
        """Every row, each closed block followed by the nodes inside it (depth first)."""
        out: list[SummaryRow] = []

        def add(row: SummaryRow) -> None:
            out.append(row)
            for child in row.children:
                add(child)

        for row in self.rows:
            add(row)
        return out

    def to_csv(self) -> str:
        """The table as CSV text: a header of :attr:`CSV_COLUMNS`, one row per node (the
        nodes inside a closed block follow it, with the block's id in ``block``; their
        counts are already in the block's), then a ``total`` row. Counts are plain
        integers, per example (N = 1)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.CSV_COLUMNS)
        for row in self.flat_rows():
            block = row.node.rsplit("/", 1)[0] if "/" in row.node and not row.group else \
                row.group
            w.writerow([row.node, row.name, row.type, block, _inputs_text(row),
                        row.output_shape, row.params, row.macs, row.params_formula,
                        row.macs_formula, row.error])
        w.writerow(["total", "total", "", "", "", "", self.total_params, self.total_macs,
                    f"parameter memory {self.param_bytes} bytes (float32)", "", ""])
        return buf.getvalue()

    def to_markdown(self) -> str:
        """The table as GitHub-flavoured Markdown (top-level rows, counts with thousands
        separators, right-aligned), a bold total row and the parameter memory below."""
        lines = ["| Name | Type | Input shape | Output shape | Params | MACs |",
                 "| --- | --- | --- | --- | ---: | ---: |"]
        for r in self.rows:
            out = r.output_shape if not r.error else f"error: {r.error}"
            cells = [r.name, r.type, _inputs_text(r), out, f"{r.params:,}", f"{r.macs:,}"]
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        lines.append(f"| **Total** | | | | **{self.total_params:,}** | "
                     f"**{self.total_macs:,}** |")
        lines.append("")
        lines.append(f"Parameter memory: {self.param_bytes:,} bytes (float32). Counts are "
                     "per example; MACs are multiply-accumulates.")
        return "\n".join(lines) + "\n"


def _inputs_text(row: SummaryRow) -> str:
    ins = row.input_shapes
    if len(ins) == 1:
        return next(iter(ins.values()))
    return ", ".join(f"{p}: {s}" for p, s in ins.items())


def _md(text: str) -> str:
    """A Markdown table cell: pipes escaped, line breaks as spaces."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _sum_formula(children: tuple[SummaryRow, ...], attr: str) -> str:
    parts = [f"{c.name} {getattr(c, attr):,}" for c in children if getattr(c, attr)]
    return "sum over the nodes inside: " + (" + ".join(parts) if parts else "0")


def _row(model: GraphModel, node_id: str, name: str, type_name: str, params: dict,
         state, sub, ins: dict, group: str = "") -> SummaryRow:
    spec = model.registry[type_name]
    inputs = {p: format_shape(s) for p, s in ins.items()}
    if not state.ok:
        return SummaryRow(node_id, name, spec.type, inputs, "?", 0, 0, "", "",
                          error=state.message if state.status == "error" else "", group=group)
    # ports that carry nothing with these params (Chunk's out2, out3 when chunks=2) are left
    # out: they are unused, not unknown
    shape = ", ".join(format_shape(s) for s in state.outputs.values() if s is not None)
    if sub is not None:
        children = tuple(
            _row(model, f"{node_id}/{n.id}", n.name, n.type, n.params, state.inner[n.id],
                 n.subgraph, state.inner[n.id].inputs)
            for n in (sub.node(local) for local in sub.order()))
        return SummaryRow(node_id, name, spec.type, inputs, shape,
                          sum(c.params for c in children), sum(c.macs for c in children),
                          _sum_formula(children, "params"), _sum_formula(children, "macs"),
                          children=children, group=group)
    cost = spec.cost(params, ins, state.outputs) if spec.cost else None
    return SummaryRow(node_id, name, spec.type, inputs, shape,
                      cost.params if cost else 0, cost.macs if cost else 0,
                      cost.params_formula if cost else "", cost.macs_formula if cost else "",
                      group=group)


def summary(model: GraphModel) -> Summary:
    """Summarise ``model`` in execution order. Nodes in error get zero counts and their
    message in ``error``; it never raises on a bad graph."""
    rows = []
    states = model.states()
    for node_id in model.topological_order():
        state = states[node_id]
        ins = state.inputs if state.ok else {
            e.dst_port: states[e.src].outputs.get(e.src_port)
            for e in model.in_edges(node_id) if states[e.src].ok}
        attrs = model.node(node_id)
        rows.append(_row(model, node_id, attrs["name"], attrs["type"], attrs["params"], state,
                         attrs.get("subgraph"), ins, attrs.get("group") or ""))
    return Summary(rows, sum(r.params for r in rows), sum(r.macs for r in rows))
