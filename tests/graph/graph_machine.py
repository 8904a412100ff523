"""A hypothesis state machine that edits a GraphModel the way the app does: through the undo
commands of playground/ui/commands.py on a QUndoStack, after the same checks the canvas and
the inspector make (check_connection, check_group, check_close, SetParamCommand's coercion).

After every rule it checks the invariants (:func:`check_model`):

* the model is a consistent DAG: states for exactly its nodes, wires between existing ports,
  one wire per input, groups and members that agree;
* shape inference never raised (no "internal error" state) and the incremental states equal
  a full inference of the same graph (and, at each save, those of the file reopened);
* every offered fix is a value its own param accepts;
* the summary has one row per node, with the states' shapes and errors;
* the document after undo / redo equals the one recorded at that point of the stack.

Only the documented typed errors may come out of the checks (WiringError and subclasses,
ParamError, CompositeError, ValueError for an empty name); a command pushed after its check
must not raise at all. Shared by tests/graph/test_fuzz_graph.py, the Qt variant
tests/ui/test_fuzz_scene.py and benchmarks/fuzz_graph.py.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from pathlib import Path

import networkx as nx
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from playground.graph import (REGISTRY, CompositeError, GraphModel, ParamError, WiringError,
                              format_shape, summary)
from playground.project import Project, load, save

TYPED = (WiringError, ParamError, CompositeError)
STARTS = ("empty", "xor_mlp", "cnn_digits", "transformer_reverse", "vae_digits", "gan_ring",
          "seq2seq_dates", "resnet18")
#: Node types added by the fuzzer: all of them, the small ones more often.
TYPES = [s.type for s in REGISTRY]
COMMON = ["Linear", "ReLU", "Input", "Dataset", "Flatten", "Conv2d", "CrossEntropyLoss",
          "MSELoss", "BCELoss", "Add", "Concat", "Reshape", "Sigmoid", "NoiseSource",
          "MultiheadAttentionBlock", "TransformerEncoderBlock", "TransformerDecoderBlock",
          "ResNetBasicBlock", "LSTMCellBlock"]
HOSTILE_VALUES = [math.nan, math.inf, -math.inf, 10**400, -(10**30), 1e300, "abc", None,
                  [1, 2], (), True, -1, 0, 0.5, "3", "(2, 2)"]


def _in_range(pspec, draw):
    if pspec.type == "bool":
        return draw(st.booleans())
    if pspec.type == "choice":
        return draw(st.sampled_from(pspec.choices))
    lo = pspec.low if pspec.low is not None else -8
    hi = pspec.high if pspec.high is not None else 64
    if pspec.type == "int":
        lo, hi = int(math.ceil(lo)), int(math.floor(hi))
        return draw(st.one_of(st.integers(lo, min(hi, lo + 40)), st.sampled_from([lo, hi])))
    if pspec.type == "float":
        return draw(st.one_of(st.floats(lo, min(hi, lo + 4.0)), st.sampled_from([lo, hi])))
    if pspec.type == "ints":
        n = pspec.length or draw(st.integers(1, 4))
        lo = int(pspec.low) if pspec.low is not None else -1
        item = st.integers(lo, lo + 8)
        return draw(st.one_of(item, st.tuples(*[item] * n)))
    return pspec.default


@st.composite
def param_value(draw, pspec):
    kind = draw(st.integers(0, 9))
    if kind < 6:
        return _in_range(pspec, draw)
    if kind < 8:
        return draw(st.sampled_from(HOSTILE_VALUES))
    if pspec.type in ("int", "float"):  # just outside the range
        edge = pspec.high if pspec.high is not None and draw(st.booleans()) else pspec.low
        if edge is not None:
            return edge + (1 if pspec.type == "int" else 1e-6) * (1 if edge == pspec.high
                                                                  else -1)
    return pspec.default


class GraphMachine(RuleBasedStateMachine):
    """Edits through the undo stack; see the module docstring. ``steps`` counts rules run
    (across every example of a run)."""

    steps = 0
    signatures: Counter = Counter()

    def __init__(self):
        super().__init__()
        from PySide6.QtGui import QUndoStack

        from playground.ui import commands
        self.commands = commands
        self.model = GraphModel()
        self.stack = QUndoStack()
        self.snaps = [self.model.to_dict()]
        self.tmp = Path(tempfile.mkdtemp(prefix="fuzz_graph_"))

    def teardown(self):
        for f in self.tmp.iterdir():
            f.unlink()
        self.tmp.rmdir()

    # -- helpers ----------------------------------------------------------------------

    def _push(self, cmd) -> None:
        """Push as the app does, then record the document at the new stack index."""
        before = self.stack.index()
        self.stack.push(cmd)
        after, cur = self.stack.index(), self.model.to_dict()
        if after == before - 1:  # merged back to where it started: the step was dropped
            assert cur == self.snaps[after], "a dropped step changed the document"
        self.snaps = self.snaps[:after] + [cur]

    def _typed(self, call, *args):
        """Run a check; a documented typed error means the app would not push."""
        try:
            return call(*args), True
        except TYPED as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            type(self).signatures[type(exc).__name__] += 1
            return None, False

    def _nodes(self):
        return self.model.nodes()

    # -- rules ------------------------------------------------------------------------

    @initialize(start=st.sampled_from(STARTS))
    def start(self, start):
        type(self).steps += 1
        if start != "empty":
            self.model.load(load(start).graph)
        self.snaps = [self.model.to_dict()]

    @rule(data=st.data())
    def add_node(self, data):
        type(self).steps += 1
        t = data.draw(st.one_of(st.sampled_from(COMMON), st.sampled_from(TYPES)), "type")
        spec = REGISTRY[t]
        params = {}
        for p in spec.params:
            if data.draw(st.integers(0, 3), f"set {p.name}?") == 0:
                params[p.name] = data.draw(param_value(p), p.name)
        values, ok = self._typed(spec.validate_params, params)
        if ok and getattr(spec, "template", None) is not None:  # as SetParamCommand does
            _, ok = self._typed(spec.make_subgraph, values)
        if ok:
            pos = (float(data.draw(st.integers(-500, 3000))), float(data.draw(st.integers(-500, 2000))))
            self._push(self.commands.AddNodeCommand(self.model, t, params, pos))

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def remove_nodes(self, data):
        type(self).steps += 1
        nodes = self._nodes()
        ids = data.draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=3, unique=True))
        self._push(self.commands.RemoveNodesCommand(self.model, ids))

    @precondition(lambda self: len(self.model) > 1)
    @rule(data=st.data())
    def connect(self, data):
        type(self).steps += 1
        nodes = self._nodes()
        src = data.draw(st.sampled_from(nodes), "src")
        dst = data.draw(st.sampled_from(nodes), "dst")
        outs = [p.name for p in self.model.output_ports(src)] + ["nope"]
        ins = [p.name for p in self.model.input_ports(dst)] + ["nope"]
        sp = data.draw(st.sampled_from(outs), "src_port")
        dp = data.draw(st.sampled_from(ins), "dst_port")
        if data.draw(st.integers(0, 9), "swap") == 0:  # backwards, as a drag from an input
            src, sp, dst, dp = dst, dp, src, sp
        _, ok = self._typed(self.model.check_connection, src, sp, dst, dp)
        if ok:
            self._push(self.commands.ConnectCommand(self.model, src, sp, dst, dp))

    @precondition(lambda self: len(self.model.edges()) > 0)
    @rule(data=st.data())
    def disconnect(self, data):
        type(self).steps += 1
        edge = data.draw(st.sampled_from(sorted(self.model.edges(), key=str)))
        self._push(self.commands.DisconnectCommand(self.model, edge))

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def set_param(self, data):
        type(self).steps += 1
        node = data.draw(st.sampled_from(self._nodes()), "node")
        spec = self.model.spec(node)
        fix = self.model.state(node).fix
        if fix is not None and data.draw(st.booleans(), "press the fix button"):
            name, value = fix  # the inspector's fix button: must be accepted
            self._push(self.commands.SetParamCommand(self.model, node, name, value))
            return
        if not spec.params:
            return
        p = data.draw(st.sampled_from(spec.params), "param")
        value = data.draw(param_value(p), "value")
        cmd, ok = self._typed(self.commands.SetParamCommand, self.model, node, p.name, value)
        if ok:
            self._push(cmd)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data(), name=st.sampled_from(["a", "fc", "  spaced  ", "", "é/√", "x" * 60]))
    def rename(self, data, name):
        type(self).steps += 1
        node = data.draw(st.sampled_from(self._nodes()))
        try:
            cmd = self.commands.RenameNodeCommand(self.model, node, name)
        except ValueError:
            assert not name.strip()
            return
        self._push(cmd)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data(), dx=st.integers(-300, 300), dy=st.integers(-300, 300))
    def move(self, data, dx, dy):
        type(self).steps += 1
        node = data.draw(st.sampled_from(self._nodes()))
        x, y = self.model.node(node)["pos"]
        self._push(self.commands.MoveNodesCommand(self.model, {node: ((x, y), (x + dx, y + dy))}))

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def group(self, data):
        type(self).steps += 1
        ids = data.draw(st.lists(st.sampled_from(self._nodes()), min_size=1, max_size=4,
                                 unique=True))
        _, ok = self._typed(self.model.check_group, ids)
        if ok:
            self._push(self.commands.GroupCommand(self.model, ids))

    @precondition(lambda self: any(self.model.is_composite(n) for n in self.model.nodes()))
    @rule(data=st.data(), how=st.sampled_from(["open", "ungroup"]))
    def open_or_ungroup(self, data, how):
        type(self).steps += 1
        blocks = [n for n in self._nodes() if self.model.is_composite(n)]
        node = data.draw(st.sampled_from(blocks))
        cmd = self.commands.OpenCompositeCommand if how == "open" else \
            self.commands.UngroupCommand
        self._push(cmd(self.model, node))

    @precondition(lambda self: bool(self.model.groups()))
    @rule(data=st.data(), how=st.sampled_from(["close", "close", "dissolve"]))
    def close_or_dissolve(self, data, how):
        type(self).steps += 1
        group = data.draw(st.sampled_from(self.model.groups()))
        if how == "dissolve":
            self._push(self.commands.DissolveGroupCommand(self.model, group))
            return
        _, ok = self._typed(self.model.check_close, group)
        if ok:
            self._push(self.commands.CloseCompositeCommand(self.model, group))

    @rule(n=st.integers(1, 4))
    def undo(self, n):
        type(self).steps += 1
        for _ in range(n):
            if not self.stack.canUndo():
                break
            self.stack.undo()
            assert self.model.to_dict() == self.snaps[self.stack.index()], \
                f"undo of {self.stack.text(self.stack.index())!r} did not restore the graph"

    @rule(n=st.integers(1, 4))
    def redo(self, n):
        type(self).steps += 1
        for _ in range(n):
            if not self.stack.canRedo():
                break
            self.stack.redo()
            assert self.model.to_dict() == self.snaps[self.stack.index()], \
                f"redo of {self.stack.text(self.stack.index() - 1)!r} differs from the first do"

    @rule()
    def save_and_reopen(self):
        type(self).steps += 1
        doc = self.model.to_dict()
        path = save(Project(name="fuzz", graph=doc), self.tmp / "f.json")
        again = GraphModel.from_dict(load(path).graph)
        assert again.to_dict() == doc, "the saved file reopens differently"
        for n, s in again.states().items():  # and infers the same as the live model
            assert _state_key(s) == _state_key(self.model.state(n)), \
                f"{n} infers differently after reopening: {self.model.state(n)} vs {s}"

    #: also compile small valid graphs and run them forward on random data, checking the
    #: shapes against inference (benchmarks/fuzz_graph.py --forward; off in the suite).
    RUN_FORWARD = False

    @precondition(lambda self: self.RUN_FORWARD and len(self.model) > 0 and
                  not any(not s.ok for s in self.model.states().values()))
    @rule()
    def forward(self):
        type(self).steps += 1
        run_forward(self.model)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def consistent(self):
        check_model(self.model)


def _state_key(s):
    return (s.status, s.outputs, s.message, s.fix)


def check_model(m: GraphModel) -> None:
    """The invariants of the module docstring; raises AssertionError naming the broken one."""
    nodes = set(m.nodes())
    states = m.states()
    assert set(states) == nodes, "states and nodes differ"
    edges = m.edges()
    taken = Counter((e.dst, e.dst_port) for e in edges)
    assert max(taken.values(), default=0) <= 1, "an input has two wires"
    for e in edges:
        assert e.src in nodes and e.dst in nodes, f"dangling wire {e}"
        assert m.output_port(e.src, e.src_port) is not None, f"no output port: {e}"
        assert m.input_port(e.dst, e.dst_port) is not None, f"no input port: {e}"
    assert nx.is_directed_acyclic_graph(m.graph), "the graph has a cycle"
    order = {n: i for i, n in enumerate(m.topological_order())}
    assert set(order) == nodes and all(order[e.src] < order[e.dst] for e in edges)
    groups = m.groups()
    for g in groups:
        info = m.group_info(g)
        assert g not in nodes, f"open group {g} is also a node"
        assert info.parent is None or info.parent in groups, f"{g}'s parent is not open"
        for member in info.members:
            assert member in nodes and m.group_of(member) == g, f"{member} not in {g}"
    for n in nodes:
        g = m.group_of(n)
        assert g is None or (g in groups and n in m.group_info(g).members), f"{n} in {g}?"
    for n, s in states.items():
        assert s.status in ("ok", "error", "blocked"), s.status
        assert "internal error" not in s.message, s.message
        if s.status != "ok":
            assert s.message.strip(), f"{n} is {s.status} without a message"
        else:
            assert set(s.outputs) == {p.name for p in m.output_ports(n)}, f"{n}'s outputs"
        if s.fix is not None:  # the fix button must offer a value its param accepts
            pspec = m.spec(n).param(s.fix[0])
            assert pspec is not None, f"{n}'s fix names no param: {s.fix}"
            try:
                pspec.coerce(s.fix[1])
            except ParamError as exc:
                raise AssertionError(f"{n}'s fix {s.fix} is refused: {exc}") from None
    full: dict = {}  # a full inference, node by node in topological order
    for n in m.topological_order():
        full[n] = m._infer_node(n, full)
        assert _state_key(full[n]) == _state_key(states[n]), \
            f"incremental inference of {n} differs from a full one: {states[n]} vs {full[n]}"
    table = summary(m)
    rows = {r.node: r for r in table.rows}
    assert set(rows) == nodes, "summary rows and nodes differ"
    for n, s in states.items():
        if s.status == "ok":
            shapes = ", ".join(format_shape(s.outputs[p.name]) for p in m.output_ports(n))
            assert rows[n].output_shape == shapes or not m.output_ports(n), \
                (n, rows[n].output_shape, shapes)
        elif s.status == "error":
            assert rows[n].error, f"summary shows no error for {n}"


def run_forward(m: GraphModel, batch: int = 3) -> None:
    """Compile ``m`` and run it on random data (N = ``batch``); every node's outputs must
    have the inferred shapes (N for None). Skips graphs too big to run quickly."""
    import numpy as np

    from playground.engine import Tensor, manual_seed
    from playground.graph import compile

    table = summary(m)
    big = any(math.prod(d or 1 for d in shape) > 100_000
              for s in m.states().values() for shape in s.outputs.values())
    if table.total_params > 2_000_000 or big:
        return
    if any(m.spec(n).build is None for n in m.nodes()):
        return  # a Dataset: its batches are the session's business
    manual_seed(0)
    program = compile(m)
    rng = np.random.default_rng(0)
    feeds = {}
    for call in program.calls:
        if call.module is None:
            s = m.state(call.node_id)
            feed = {}
            for port, shape in s.outputs.items():
                dims = tuple(batch if d is None else d for d in shape)
                spec_port = m.output_port(call.node_id, port)
                if spec_port is not None and spec_port.kind == "index":
                    k = (s.meta.get(port) or {}).get("num_classes", 2)
                    feed[port] = Tensor(rng.integers(0, k, dims))
                else:
                    feed[port] = Tensor(rng.standard_normal(dims).astype(np.float32))
            feeds[call.node_id] = feed
    trace = program.run(feeds)
    for n, s in m.states().items():
        got = trace.outputs.get(n)
        if got is None:
            continue
        for port, shape in s.outputs.items():
            if port not in got:
                continue
            want = tuple(batch if d is None else d for d in shape)
            assert tuple(got[port].shape) == want, \
                f"{n}.{port} runs as {tuple(got[port].shape)}, inferred {want}"
