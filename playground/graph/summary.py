"""summary(): per-node output shape, parameter count and multiply-accumulates (MACs).

Counts are per example (batch dimension N = 1), with the formula behind each number:
Linear params ``in_features*out_features + out_features``, MACs ``in_features*out_features``
(one multiply-accumulate per weight per position).

A closed block is one row whose counts are the sums over the primitive nodes inside it
(nested blocks are expanded, so each primitive is counted exactly once); the row's
``children`` hold the breakdown. An open block's members are ordinary rows.

:func:`bottlenecks` finds each 1×1 convolution that reduces the channels fed to a K_H×K_W
convolution (GoogLeNet's ``*_reduce`` branches, DenseNet's and ResNet's bottleneck layers)
and the weights it saves; ``Summary.bottlenecks`` holds them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .compile import FlatNode, flatten
from .model import GraphModel
from .spec import format_shape

#: Nodes a bottleneck's reduced maps may pass through on the way to the K×K conv: one input,
#: the same channels out (normalisation, elementwise activations, dropout).
PASS_THROUGH = frozenset({"BatchNorm2d", "ReLU", "LeakyReLU", "ELU", "GELU", "Sigmoid",
                          "Tanh", "Softplus", "Dropout", "Identity"})


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@dataclass(frozen=True)
class Bottleneck:
    """A 1×1 convolution that reduces C_in channels to C_mid ahead of a K_H×K_W convolution
    to C_out, against that K_H×K_W convolution applied directly to the C_in channels.

    Counts are weights only (no biases, no BatchNorm), as Szegedy et al. 2015 (GoogLeNet,
    §4: "1×1 convolutions are used to compute reductions before the expensive 3×3 and 5×5
    convolutions") and He et al. 2016 (ResNet, §4.1 "Deeper Bottleneck Architectures")
    compare them::

        direct  = C_out·C_in·K_H·K_W
        weights = C_mid·C_in + C_out·C_mid·K_H·K_W      (the 1×1, then the K_H×K_W)
        saved   = direct - weights

    e.g. C_in = 40, C_mid = 16, C_out = 32, 3×3: direct 32·40·9 = 11,520, weights
    16·40 + 32·16·9 = 5,248, saved 6,272 (54%). Per-position multiply-accumulates shrink by
    the same fraction when both convolutions keep H and W.

    Attributes:
        reduce, conv: node ids of the 1×1 and the K_H×K_W convolution (``"<block>/<local>"``
            inside closed blocks).
        reduce_name, conv_name: their display names, with the blocks' names as the path.
        in_channels, mid_channels, out_channels: C_in, C_mid, C_out.
        kernel_size: (K_H, K_W) of the second convolution.
    """

    reduce: str
    conv: str
    reduce_name: str
    conv_name: str
    in_channels: int
    mid_channels: int
    out_channels: int
    kernel_size: tuple[int, int]

    @property
    def direct(self) -> int:
        """Weights of the K_H×K_W conv applied to the C_in channels: C_out·C_in·K_H·K_W."""
        kh, kw = self.kernel_size
        return self.out_channels * self.in_channels * kh * kw

    @property
    def weights(self) -> int:
        """Weights of the pair: C_mid·C_in + C_out·C_mid·K_H·K_W."""
        kh, kw = self.kernel_size
        c_in, c_mid, c_out = self.in_channels, self.mid_channels, self.out_channels
        return c_mid * c_in + c_out * c_mid * kh * kw

    @property
    def saved(self) -> int:
        """``direct - weights``: > 0 for every bottleneck :func:`bottlenecks` reports."""
        return self.direct - self.weights

    @property
    def text(self) -> str:
        """One line, e.g. ``"1×1 bottleneck in inception_b: branch2_reduce/conv →
        branch2/conv saves 6,272 of 11,520 weights (54%) against a 3×3 conv 40→32"``; the
        blocks both convolutions lie in are named once, after "in"."""
        a, b = self.reduce_name.split("/"), self.conv_name.split("/")
        n = 0
        while n < min(len(a), len(b)) - 1 and a[n] == b[n]:
            n += 1
        where = f" in {'/'.join(a[:n])}:" if n else ""
        kh, kw = self.kernel_size
        return (f"1×1 bottleneck{where} {'/'.join(a[n:])} → {'/'.join(b[n:])} saves "
                f"{self.saved:,} of {self.direct:,} weights ({self.percent:.0f}%) against a "
                f"{kh}×{kw} conv {self.in_channels}→{self.out_channels}")

    @property
    def percent(self) -> float:
        """``saved`` as a percentage of ``direct``."""
        return 100.0 * self.saved / self.direct


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
    bottlenecks: tuple[Bottleneck, ...] = ()   # see :func:`bottlenecks`

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
        lines.extend(b.text for b in self.bottlenecks)
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
        if self.bottlenecks:
            lines.append("")
            lines.extend(f"- {b.text}" for b in self.bottlenecks)
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


def _bottleneck_from(node: FlatNode, consumers: dict[str, list[FlatNode]]
                     ) -> Bottleneck | None:
    p = node.params
    if node.spec.type != "Conv2d" or _pair(p["kernel_size"]) != (1, 1) or p["groups"] != 1 \
            or _pair(p["stride"]) != (1, 1) or _pair(p["padding"]) != (0, 0):
        return None
    cur = node
    while len(consumers.get(cur.node_id, ())) == 1:  # the reduced maps go one way only
        cur = consumers[cur.node_id][0]
        if cur.spec.type in PASS_THROUGH:
            continue
        q = cur.params
        if cur.spec.type != "Conv2d" or q["groups"] != 1 or \
                q["in_channels"] != p["out_channels"] or _pair(q["kernel_size"]) == (1, 1):
            return None
        found = Bottleneck(node.node_id, cur.node_id, node.name, cur.name, p["in_channels"],
                           p["out_channels"], q["out_channels"], _pair(q["kernel_size"]))
        return found if found.saved > 0 else None
    return None


def bottlenecks(model: GraphModel) -> tuple[Bottleneck, ...]:
    """Every 1×1 convolution (stride 1, no padding, groups 1) whose output goes, through
    nothing but :data:`PASS_THROUGH` nodes and to no other node, into a K_H×K_W convolution
    (groups 1, K_H·K_W > 1), when the pair has fewer weights than the K_H×K_W convolution
    applied directly to the 1×1's input channels (see :class:`Bottleneck`). Blocks are looked
    into. In execution order; () when the graph has errors."""
    if model.errors() or not all(s.ok for s in model.states().values()):
        return ()
    flat, _ = flatten(model)
    consumers: dict[str, list[FlatNode]] = {}
    for node in flat:
        for src, _port in node.inputs.values():
            consumers.setdefault(src, []).append(node)
    found = (_bottleneck_from(node, consumers) for node in flat)
    return tuple(b for b in found if b is not None)


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
    return Summary(rows, sum(r.params for r in rows), sum(r.macs for r in rows),
                   bottlenecks(model))
