"""summary(): per-node output shape, parameter count and multiply-accumulates (MACs).

Counts are per example (batch dimension N = 1), with the formula behind each number:
Linear params ``in_features*out_features + out_features``, MACs ``in_features*out_features``
(one multiply-accumulate per weight per position).
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Summary:
    rows: list[SummaryRow]
    total_params: int
    total_macs: int

    @property
    def param_bytes(self) -> int:
        """Parameter memory in bytes at float32 (4 bytes each)."""
        return 4 * self.total_params

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


def summary(model: GraphModel) -> Summary:
    """Summarise ``model`` in execution order. Nodes in error get zero counts and their
    message in ``error``; it never raises on a bad graph."""
    rows = []
    states = model.states()
    for node_id in model.topological_order():
        spec, state = model.spec(node_id), states[node_id]
        ins = {e.dst_port: states[e.src].outputs.get(e.src_port)
               for e in model.in_edges(node_id) if states[e.src].ok}
        if state.ok:
            outs = state.outputs
            cost = spec.cost(model.params(node_id), ins, outs) if spec.cost else None
            shape = ", ".join(format_shape(s) for s in outs.values())
        else:
            cost, shape = None, "?"
        rows.append(SummaryRow(
            node=node_id, name=model.name(node_id), type=spec.type,
            input_shapes={p: format_shape(s) for p, s in ins.items()}, output_shape=shape,
            params=cost.params if cost else 0, macs=cost.macs if cost else 0,
            params_formula=cost.params_formula if cost else "",
            macs_formula=cost.macs_formula if cost else "",
            error="" if state.ok else state.message))
    return Summary(rows, sum(r.params for r in rows), sum(r.macs for r in rows))
