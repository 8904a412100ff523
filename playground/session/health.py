"""Gradient health: what the canvas overlay and the health views show after a step.

Per node: the norm of the gradient arriving at its output, the fraction of dead units (a
ReLU whose output is zero for the whole batch), the fraction of saturated outputs (a
sigmoid or tanh within 1% of its bounds), the gradient norm of its parameters and the
update/weight ratio ``||Δθ|| / ||θ||`` of the step (Karpathy's rule of thumb: about 1e-3 is
healthy). Per wire: the norm of the gradient travelling back along it.

A :class:`Probe` watches one training pass. It makes the engine keep every node output's
gradient (``retain_grad``) and, where one output feeds several wires, taps each wire with an
identity op so that each wire's own share of the gradient is kept. Plain training never
makes a probe, so it pays nothing; a probed step computes the same numbers as a plain one.

Shapes: N batch, C channels; a "unit" is one feature of a (N, *, F) output, or one channel
of a (N, C, H, W) output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from playground.engine import Tensor
from playground.graph import Program, Trace

from .stepping import Wire

#: Node types whose dead units are counted: the output is exactly 0 where the unit is off.
DEAD_TYPES = frozenset({"ReLU", "ReLU6"})
#: Node types with bounded outputs, and their bounds (lo, hi).
BOUNDS: Mapping[str, tuple[float, float]] = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0),
                                             "Hardtanh": (-1.0, 1.0)}
#: An output within this fraction of its range (hi - lo) from a bound is saturated.
SATURATION_BAND = 0.01
#: Bins of the per-node histograms.
HIST_BINS = 32
#: Histograms look at most this many values of an array (an even stride through it).
HIST_MAX_VALUES = 4096


def dead_fraction(y: np.ndarray) -> float:
    """Fraction of units that are 0 (or below) for every example and position of the batch.

    Units: channels of a (N, C, H, W) output, the last dim F of a (N, *, F) output."""
    alive = y > 0
    if y.ndim == 4:
        per_unit = alive.any(axis=(0, 2, 3))
    elif y.ndim >= 2:
        per_unit = alive.reshape(-1, y.shape[-1]).any(axis=0)
    else:
        per_unit = np.atleast_1d(alive.any())
    return float(1.0 - per_unit.mean())


def saturated_fraction(y: np.ndarray, lo: float, hi: float,
                       band: float = SATURATION_BAND) -> float:
    """Fraction of the output values within ``band * (hi - lo)`` of ``lo`` or ``hi``: a
    sigmoid below 0.01 or above 0.99, a tanh beyond ±0.98. There its derivative is below
    about 0.01 (sigmoid) or 0.04 (tanh), so little gradient passes."""
    width = band * (hi - lo)
    return float(np.mean((y <= lo + width) | (y >= hi - width)))


@dataclass(frozen=True)
class Histogram:
    """Counts of values in ``bins`` equal bins over ``[lo, hi]``.

    ``counts`` is float32 (bins,), normalised to sum to 1 (0 bins for an empty array)."""

    lo: float
    hi: float
    counts: np.ndarray

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, len(self.counts) + 1)


def histogram(values: np.ndarray, bins: int = HIST_BINS,
              max_values: int = HIST_MAX_VALUES) -> Histogram:
    """The histogram of ``values`` (any shape) over their finite range; arrays larger than
    ``max_values`` are sampled with an even stride. (Binned by hand with ``bincount``:
    ``np.histogram`` costs ten times as much on arrays this small.)"""
    flat = np.ravel(values)
    if flat.size > max_values:
        flat = flat[:: -(-flat.size // max_values)]
    if not np.isfinite(flat).all():
        flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return Histogram(0.0, 0.0, np.zeros(bins, np.float32))
    lo, hi = float(flat.min()), float(flat.max())
    if hi <= lo:  # one value: a width that lo + width still tells apart from lo
        hi = lo + max(1e-12, abs(lo) * 1e-9)
    idx = ((flat - lo) * (bins / (hi - lo))).astype(np.intp)
    np.minimum(idx, bins - 1, out=idx)  # the maximum falls in the last bin
    counts = np.bincount(idx, minlength=bins)
    return Histogram(lo, hi, (counts / flat.size).astype(np.float32))


@dataclass(frozen=True)
class NodeHealth:
    """The health of one node after a step; None where it does not apply.

    Attributes:
        grad_norm: L2 norm of dL/d(output), over all output ports.
        dead: fraction of dead units (ReLU nodes).
        saturated: fraction of saturated outputs (Sigmoid, Tanh nodes).
        param_grad_norm: L2 norm of the gradient of the node's parameters.
        update_ratio: ``||θ_after - θ_before|| / ||θ_after||`` over the node's parameters.
    """

    grad_norm: float | None = None
    dead: float | None = None
    saturated: float | None = None
    param_grad_norm: float | None = None
    update_ratio: float | None = None


@dataclass(frozen=True)
class Health:
    """Gradient health of every node and wire after training step ``step``.

    ``wires`` maps ``(src, src_port, dst, dst_port)`` to the L2 norm of the gradient going
    back along that wire; wires that carry no gradient (data, class targets) are absent.
    The UI takes the log for the overlay.
    """

    step: int
    nodes: Mapping[str, NodeHealth] = field(default_factory=dict)
    wires: Mapping[Wire, float] = field(default_factory=dict)


def _norm(a: np.ndarray) -> float:
    a = np.ravel(a)
    return float(np.sqrt(np.dot(a, a)))


class Probe:
    """Keeps the gradients of one pass for :meth:`health` and :meth:`histograms`.

    Use ``probe.wire`` as the ``wire`` hook of :func:`playground.session.stepping.run_calls`
    and call :meth:`watch` on each node's outputs as it runs.
    """

    def __init__(self, program: Program):
        self.program = program
        fanout: dict[tuple[str, str], int] = {}
        for call in program.calls:
            for _, src, sport in call.inputs:
                fanout[src, sport] = fanout.get((src, sport), 0) + 1
        self._fanout = fanout
        self.wires: dict[Wire, Tensor] = {}

    def wire(self, w: Wire, t: Tensor) -> Tensor:
        if not t.requires_grad:
            return t
        if self._fanout.get((w[0], w[1]), 0) > 1:
            t = t.reshape(t.shape)  # identity op: its gradient is this wire's share alone
            t.retain_grad()
        self.wires[w] = t
        return t

    @staticmethod
    def watch(outputs: Mapping[str, Tensor]) -> None:
        for t in outputs.values():
            if isinstance(t, Tensor) and t.requires_grad:
                t.retain_grad()

    def health(self, step: int, trace: Trace, before: Mapping[str, np.ndarray] | None = None
               ) -> Health:
        """Stats after backward (and, for ``update_ratio``, after the optimizer step;
        ``before`` holds the parameters as they were, keyed ``"<node>.<param>"``)."""
        nodes: dict[str, NodeHealth] = {}
        for call in self.program.calls:
            outs = trace.outputs.get(call.node_id)
            if outs is None:
                continue
            grads = [t.grad for t in outs.values() if isinstance(t, Tensor) and
                     t.grad is not None]
            grad_norm = float(np.sqrt(sum(_norm(g) ** 2 for g in grads))) if grads else None
            y = next((t.data for t in outs.values() if isinstance(t, Tensor)), None)
            kind = call.spec.type
            dead = dead_fraction(y) if kind in DEAD_TYPES and y is not None else None
            bounds = BOUNDS.get(kind)
            sat = saturated_fraction(y, *bounds) if bounds and y is not None else None
            pg = ur = None
            if call.module is not None:
                params = [(f"{call.node_id}.{n}", p) for n, p in call.module.named_parameters()]
                if params:
                    g2 = [_norm(p.grad) ** 2 for _, p in params if p.grad is not None]
                    pg = float(np.sqrt(sum(g2))) if g2 else None
                    if before is not None and all(k in before for k, _ in params):
                        du = sum(_norm(p.data - before[k]) ** 2 for k, p in params)
                        w = sum(_norm(p.data) ** 2 for _, p in params)
                        ur = float(np.sqrt(du / w)) if w > 0 else None
            nodes[call.node_id] = NodeHealth(grad_norm, dead, sat, pg, ur)
        wires = {w: _norm(t.grad) for w, t in self.wires.items() if t.grad is not None}
        return Health(step, MappingProxyType(nodes), MappingProxyType(wires))

    def histograms(self, trace: Trace) -> dict[str, dict[str, Histogram]]:
        """Per node: ``"activation"`` (its first output), ``"gradient"`` (dL/d that output,
        when kept) and ``"weight"`` (all its parameters). Source nodes and scalar outputs
        (losses) have no activation histogram."""
        out: dict[str, dict[str, Histogram]] = {}
        for call in self.program.calls:
            hists: dict[str, Histogram] = {}
            outs = trace.outputs.get(call.node_id)
            t = next((t for t in (outs or {}).values() if isinstance(t, Tensor)), None)
            if call.module is not None and t is not None and t.data.size > 1 and \
                    t.data.dtype.kind == "f":
                hists["activation"] = histogram(t.data)
                if t.grad is not None:
                    hists["gradient"] = histogram(t.grad)
            if call.module is not None:
                params = [p.data.ravel() for p in call.module.parameters()]
                if params:
                    hists["weight"] = histogram(np.concatenate(params))
            if hists:
                out[call.node_id] = hists
        return out


def measure(session) -> Health:
    """The gradient health of ``session``'s current batch, without training: a probed
    forward and backward pass of a copy of the program (so neither the parameters'
    gradients nor running statistics change, and the engine's random generator is left as
    it was). For the overlay when it is switched on while training is paused.

    ``session`` is a :class:`playground.session.Session`; the result's ``step`` is its
    step count. Raises what the pass raises (a graph that cannot run).
    """
    import copy
    from dataclasses import replace

    from .session_stepping import preserved_rng

    program = Program([replace(c, module=copy.deepcopy(c.module)) for c in
                       session.program.calls], session.program.aliases)
    probe = Probe(program)
    with preserved_rng():
        trace = session.run(session.feeds(*session.current_batch()), probe=probe,
                            program=program)
        session.recipe.objective(trace).backward()
    return probe.health(session.step_count, trace)
