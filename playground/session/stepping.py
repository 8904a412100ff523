"""Stepping through a Program: one node forward, one engine op backward, and a gradient
check of one node.

Forward stepping runs the Program's calls one at a time (:func:`run_calls`, the same loop
as ``Program.run`` with three optional hooks). Backward stepping walks the engine's
``backward_steps()`` over the tape of that pass; each engine op is attributed to the graph
node whose call created it (:func:`claim_ops`), so the canvas can highlight the node and
the wire a gradient travels on.

Shapes: N batch; arrays are copies, safe to hand to another thread.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from playground.engine import Function, Tensor
from playground.graph import Program, Trace
from playground.graph.compile import Call

#: (src node, src port, dst node, dst port): one wire of the canvas.
Wire = tuple[str, str, str, str]


# ------------------------------------------------------------------------ running calls


def run_calls(program: Program, feeds: Mapping[str, Mapping[str, Tensor]], *,
              until: set[str] | None = None,
              inputs: Mapping[tuple[str, str], Tensor] | None = None,
              wire: Callable[[Wire, Tensor], Tensor] | None = None,
              ) -> Iterator[tuple[Call, dict[str, Tensor], dict[str, Tensor]]]:
    """Run ``program``'s calls in order, yielding ``(call, inputs, outputs)`` after each.

    ``Program.run`` is this loop run to the end. The extras:

    Args:
        feeds: outputs of nodes that are not run: every source node (a Dataset), and any
            other node whose outputs are given (e.g. a latent code fed to a decoder).
        until: run only these nodes (closed under inputs, see ``Program.ancestors``).
        inputs: ``{(node_id, port): tensor}`` replaces what is wired into that input port
            (a GAN's discriminator fed real data, a gradient check's leaf).
        wire: ``wire((src, src_port, dst, dst_port), tensor) -> tensor`` is applied to every
            value as it travels along a wire (the health probe taps wires with it).

    Yields:
        the Call, its keyword inputs by port, and its outputs by port (Tensors).
    """
    out: dict[str, dict[str, Tensor]] = {}
    for call in program.calls:
        node = call.node_id
        if until is not None and node not in until:
            continue
        if node in feeds or call.module is None:
            result = dict(feeds[node])
            kwargs: dict[str, Tensor] = {}
        else:
            kwargs = {}
            for port, src, sport in call.inputs:
                given = inputs.get((node, port)) if inputs else None
                if given is not None:
                    kwargs[port] = given
                elif wire is not None:
                    kwargs[port] = wire((src, sport, node, port), out[src][sport])
                else:
                    kwargs[port] = out[src][sport]
            result = call.module(**kwargs)
            if not isinstance(result, dict):
                result = {call.spec.outputs[0].name: result}
        out[node] = result
        yield call, kwargs, result


def trace_of(program: Program, out: dict[str, dict[str, Tensor]]) -> Trace:
    """The Trace of a run from its outputs by node: adds each inlined block's outputs
    under the block's own id, as ``Program.run`` does."""
    for block, ports in program.aliases.items():
        got = {p: out[s][sp] for p, (s, sp) in ports.items() if s in out}
        if got:
            out[block] = got
    return Trace(out)


def claim_ops(outputs: Mapping[str, Any], node_id: str, owner: dict[Function, str]) -> None:
    """Attribute to ``node_id`` every op on the tape behind ``outputs`` not yet in ``owner``.

    Called after each node's call, in execution order: the ops of earlier nodes are already
    claimed, so the walk stops at them and what remains is exactly what this call created
    (ops it created that do not lead to its outputs never reach the loss either).
    """
    stack = [t._ctx for t in outputs.values()
             if isinstance(t, Tensor) and t._ctx is not None and t._ctx not in owner]
    while stack:
        fn = stack.pop()
        if fn in owner:
            continue
        owner[fn] = node_id
        for x in fn.inputs or ():
            if isinstance(x, Tensor) and x._ctx is not None and x._ctx not in owner:
                stack.append(x._ctx)


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class ForwardRecord:
    """One node of a forward step.

    Attributes:
        index: position in execution order (0 = the first node).
        node: the node id; ``type``: its node type.
        inputs: ``{port: array}`` what arrived on each input port.
        outputs: ``{port: array}`` what it produced.
        wires: the wires that brought its inputs, ``(src, src_port, node, port)``.
    """

    index: int
    node: str
    type: str
    inputs: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    wires: tuple[Wire, ...] = ()


@dataclass(frozen=True)
class BackwardRecord:
    """One engine op of a backward step: the chain rule at one op,
    ``downstream[k].ravel() == local_jacobian[k].T @ upstream.ravel()``.

    Attributes:
        index: 0 for the first op walked (the one nearest the loss).
        node: the id of the node call that created the op (inside a closed block, the
            inner node's id ``"<block>/<local id>"``); None for the ops the session adds
            after the graph (the sum of several losses, a recipe's own loss).
        op: the op's name, e.g. ``"Linear"``, ``"ReLU"``.
        upstream: dL/d(output), of the op output's shape.
        downstream: ``{input name: dL/d(input)}`` for each Tensor input, named as in the
            op's ``forward`` (``"input"``, ``"weight"``, ``"bias"``; ``"a"``/``"b"`` for
            arithmetic); None for an input that needs no gradient.
        local_jacobian: ``{input name: d(output)/d(input)}`` as (output.size, input.size)
            arrays, None where too large (either size > 4096) or not needed.
        sources: ``{input name: what it is}``: ``"fc1.weight"`` for a parameter,
            ``"fc1.output"`` for a node's output, ``"<op>"`` for another op's result inside
            the same node, ``""`` for a constant input.
        wires: ``{input name: wire}`` for inputs that arrive on a canvas wire: the gradient
            goes back along it.
        rule: the op's rule in words (its docstring's first paragraph), for the view shown
            when a Jacobian is too large.
        saved: the arrays the op saved for backward, by name.
    """

    index: int
    node: str | None
    op: str
    upstream: np.ndarray
    downstream: Mapping[str, np.ndarray | None]
    local_jacobian: Mapping[str, np.ndarray | None]
    sources: Mapping[str, str] = field(default_factory=dict)
    wires: Mapping[str, Wire] = field(default_factory=dict)
    rule: str = ""
    saved: Mapping[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=None)
def _input_names(op: type, n: int) -> tuple[str, ...]:
    """Names of an op's ``n`` positional inputs, from its ``forward(ctx, ...)`` signature."""
    names: list[str] = []
    try:
        params = list(inspect.signature(op.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            start = len(names)
            names.extend(f"{p.name}[{i}]" for i in range(n - start))
            break
    names = names[:n]
    names.extend(f"input{i}" for i in range(len(names), n))
    return tuple(names)


@lru_cache(maxsize=None)
def op_rule(op: type) -> str:
    """An op's docstring's first paragraph, one line."""
    doc = inspect.getdoc(op) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _copy(a: Any) -> Any:
    return None if a is None else np.array(a, copy=True)


class Tape:
    """The pass a backward walk runs over: the trace, the op → node map and the loss.

    Built by :meth:`playground.session.Session.forward_steps` (or on demand by
    ``backward_steps``). Knows the names of parameters and node outputs so that each record
    says where a gradient goes.
    """

    def __init__(self, program: Program, trace, owner: dict[Function, str], loss: Tensor):
        self.program = program
        self.trace = trace
        self.owner = owner
        self.loss = loss
        self._param_names = {id(p): name for name, p in program.named_parameters()}
        self._outputs: dict[int, tuple[str, str]] = {}
        for node, ports in trace.outputs.items():
            for port, t in ports.items():
                if isinstance(t, Tensor):
                    self._outputs.setdefault(id(t), (node, port))

    def _where(self, x: Any, node: str | None) -> tuple[str, Wire | None]:
        if not isinstance(x, Tensor):
            return "", None
        name = self._param_names.get(id(x))
        if name is not None:
            return name, None
        src = self._outputs.get(id(x))
        if src is None:
            return (f"<{type(x._ctx).__name__}>" if x._ctx is not None else "<leaf>"), None
        label = f"{src[0]}.{src[1]}"
        if node is None or src[0] == node:
            return label, None
        for port, s, sp in self.program.call(node).inputs:
            if (s, sp) == src:
                return label, (s, sp, node, port)
        return label, None

    def backward(self, jacobians: bool = True) -> Iterator[BackwardRecord]:
        """Walk ``loss.backward_steps()`` and yield one record per op. Exhausting it leaves
        exactly the gradients ``loss.backward()`` leaves."""
        for i, step in enumerate(self.loss.backward_steps(jacobians=jacobians)):
            node = self.owner.get(step.fn)
            names = _input_names(type(step.fn), len(step.inputs))
            downstream, jac, sources, wires = {}, {}, {}, {}
            jacs = step.jacobian or (None,) * len(step.inputs)
            for name, x, d, j in zip(names, step.inputs, step.downstream, jacs):
                if not isinstance(x, Tensor):
                    continue
                downstream[name] = _copy(d)
                jac[name] = j  # fresh arrays from the engine
                sources[name], w = self._where(x, node)
                if w is not None:
                    wires[name] = w
            yield BackwardRecord(i, node, step.op, _copy(step.upstream), downstream, jac,
                                 sources, wires, op_rule(type(step.fn)),
                                 dict(getattr(step.fn, "saved", None) or {}))


def forward_record(index: int, call: Call, kwargs: Mapping[str, Tensor],
                   outputs: Mapping[str, Tensor]) -> ForwardRecord:
    return ForwardRecord(
        index, call.node_id, call.spec.type,
        {p: np.array(t.data if isinstance(t, Tensor) else t) for p, t in kwargs.items()},
        {p: np.array(t.data if isinstance(t, Tensor) else t) for p, t in outputs.items()},
        tuple((s, sp, call.node_id, p) for p, s, sp in call.inputs))


# ------------------------------------------------------------------------- gradient check

#: Step of the central differences. For |x| ~ 1, eps ~ u**(1/3) ~ 6e-6 would balance
#: rounding against truncation; 1e-6 keeps the window [x - eps, x + eps] narrow, so fewer
#: ReLU and max-pool kinks fall inside it, and the floor below allows for its rounding.
GRADCHECK_EPS = 1e-6
#: Pass mark on the relative error in float64 (see :func:`check_tensor`).
GRADCHECK_RTOL = 1e-6
#: C in the absolute floor ``atol = C * u * max(|L|, 1) / eps`` (see :func:`check_tensor`).
GRADCHECK_ROUNDING = 32.0
#: A bend of the half-step slopes larger than this fraction of the slopes is a kink.
KINK_BEND = 1e-4

#: Machine epsilon of float64, u = 2.2e-16 (twice the unit roundoff).
FLOAT64_U = float(np.finfo(np.float64).eps)


def float64_program(program: Program) -> Program:
    """A copy of ``program`` in float64 with the same weights, for gradient checks.

    Modules are deep-copied (with one memo, so a module or parameter shared by two calls
    stays shared in the copy), then every floating array they hold (parameters and buffers
    such as running statistics) is replaced by a float64, C-contiguous, writeable copy: a
    check perturbs parameters in place, element by element. The original is untouched.
    """
    calls, memo = [], {}
    for call in program.calls:
        module = copy.deepcopy(call.module, memo) if call.module is not None else None
        if module is not None:
            for m in module.modules():
                for name, value in list(vars(m).items()):
                    if isinstance(value, Tensor) and value.data.dtype.kind == "f":
                        value.data = np.array(value.data, dtype=np.float64, order="C")
                        value.grad = None
                    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
                        object.__setattr__(m, name, np.array(value, np.float64, order="C"))
        calls.append(replace(call, module=module))
    return Program(calls, program.aliases)


def float64_wire(wire: Wire, value: Any) -> Any:
    """A ``wire`` hook for :func:`run_calls`: floating tensors travel on as float64.

    Some nodes make float32 whatever the program's dtype (NoiseSource draws float32
    noise); this keeps every value of a float64 program's pass in float64. A tensor that
    carries a gradient is cast with the engine's differentiable ``Tensor.to``."""
    if isinstance(value, Tensor) and value.data.dtype.kind == "f" \
            and value.data.dtype != np.float64:
        return value.to(np.float64)
    return value


def relative_errors(analytic: np.ndarray, numeric: np.ndarray, floor: float) -> np.ndarray:
    """``|a - n| / max(|a|, |n|, floor)`` elementwise; NaN (a non-finite loss) becomes inf.

    The floor turns the relative error into an absolute one, ``|a - n| / floor``, for
    entries smaller than it: those the rounding of the loss swamps (see
    :func:`check_tensor`)."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    with np.errstate(invalid="ignore"):
        err = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    return np.where(np.isnan(err), np.inf, err)


def perturbed_losses(loss: Callable[[], float], array: np.ndarray, index: np.ndarray,
                     steps: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``loss()`` with element ``i`` of ``array`` moved by each step, for ``i`` in
    ``index``: returns the losses (K, S) and the steps actually taken (K, S), for K
    indices and S steps (``x + step`` rounds to the array's dtype).

    ``index`` holds flat indices in C order (as ``np.ravel_multi_index`` makes them),
    whatever the array's memory layout: the array's own elements are perturbed in place,
    through ``np.unravel_index``, so a transposed or strided view works too, and each is
    put back before the next (also when ``loss`` raises).

    Raises:
        ValueError: ``array`` is read-only (a perturbation could not reach the loss).
    """
    if not array.flags.writeable:
        raise ValueError("central differences perturb the array in place; it is read-only")
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    losses = np.empty((len(index), len(steps)))
    taken = np.empty((len(index), len(steps)))
    for k, i in enumerate(index):
        at = np.unravel_index(int(i), array.shape)
        keep = array[at].copy()
        try:
            for j, step in enumerate(steps):
                array[at] = keep + step
                taken[k, j] = float(array[at]) - float(keep)
                losses[k, j] = loss()
        finally:
            array[at] = keep
    return losses, taken


def central_differences(loss: Callable[[], float], array: np.ndarray, index: np.ndarray,
                        eps: float = GRADCHECK_EPS) -> np.ndarray:
    """dL/dx_i for each flat index ``i`` (C order) in ``index``, by the central difference
    ``(L(x + eps) - L(x - eps)) / 2 eps`` (over the steps actually taken), perturbing
    ``array``'s own elements in place and restoring them (see :func:`perturbed_losses`).

    Returns a (K,) array for K indices. Raises ValueError if ``array`` is read-only.
    """
    losses, taken = perturbed_losses(loss, array, index, (eps, -eps))
    return (losses[:, 0] - losses[:, 1]) / (taken[:, 0] - taken[:, 1])


@dataclass(frozen=True)
class TensorCheck:
    """The gradient check of one tensor: an input port or a parameter of a node.

    Attributes:
        name: the port (``"input"``, ``"mu"``...) or parameter (``"weight"``) name.
        kind: ``"input"`` or ``"parameter"``.
        shape: the tensor's shape.
        checked: elements compared (those at a kink are not).
        kinks: flat indices (C order) of the elements skipped at a kink.
        max_error: the largest relative error over the checked elements (0 if none).
        worst: flat index of that element (None if none was checked).
        analytic, numeric: the worst element's gradient from autograd and from the
            central difference (NaN if none was checked).
        max_numeric: the largest |central difference| over the checked elements (0: no
            perturbation of this tensor moved the loss).
        passed: every checked element is within the pass mark.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    checked: int
    kinks: tuple[int, ...]
    max_error: float
    worst: int | None
    analytic: float
    numeric: float
    max_numeric: float
    passed: bool

    @property
    def skipped_kinks(self) -> int:
        return len(self.kinks)


def check_tensor(name: str, kind: str, loss: Callable[[], float], array: np.ndarray,
                 analytic: np.ndarray, index: np.ndarray, base: float, *, atol: float,
                 eps: float = GRADCHECK_EPS, rtol: float = GRADCHECK_RTOL) -> TensorCheck:
    """Compare autograd's gradient ``analytic`` (the shape of ``array``) of ``loss()``
    with central differences at the flat indices ``index`` (C order) of ``array``.

    ``base`` is ``loss()`` unperturbed; ``atol`` the absolute floor, normally
    ``GRADCHECK_ROUNDING * u * max(|base|, 1) / eps`` with u = 2.2e-16 (float64's machine
    epsilon), as :meth:`Session.gradcheck_node` sets it. Two evaluations of the loss per
    element, and four more for an element that fails the first comparison.

    **Pass mark.** An element agrees when ``|a - n| <= max(rtol * max(|a|, |n|), atol)``,
    i.e. its relative error ``|a - n| / max(|a|, |n|, atol / rtol)`` is at most ``rtol``
    (1e-6). In float64 the central difference ``n`` of a correct gradient ``a`` is off by
    (Press et al., *Numerical Recipes*, 3rd ed., section 5.7):

    - truncation, ``eps**2 |L'''| / 6`` (Taylor's theorem): 1.7e-13 |L'''| at eps = 1e-6,
      1.7e-13 relative where L''' is of the size of L', far under 1e-6. Where it is not
      (a loss that bends on a scale near eps, like sin(5000 x)), the element is rechecked
      by Richardson extrapolation,
      ``(4 n(eps/2) - n(eps)) / 3 = L' + O(eps**4)``, with three times the floor (its
      rounding is three times larger);
    - rounding: each loss carries an error of a few units u of the magnitudes it is
      computed from, about ``S = max(|L|, 1)`` (the loss, or the O(1) logits and
      activations when the loss is small), so ``n`` is off by ``k u S / eps``. On every
      preset k <= 0.75 (0.04 after training XOR to a loss of 0.004): ``atol = 32 u S /
      eps`` (7e-9 S) keeps a 40x margin.

    **Kinks.** A failing element is also evaluated at ``x +- eps/2``, which gives the
    loss's slopes over the four half-steps of ``[x - eps, x + eps]``. Where the loss is
    smooth they lie on a line (its second derivative) up to ``eps**2 |L'''| / 8`` and
    rounding (measured <= 4 u S / eps, under ``atol / 2``). A kink inside the window
    (ReLU or LeakyReLU at 0, a max-pool tie, abs, a clamp's edge) bends them: for a single
    kink the residual of a straight-line fit is at least half the error it causes,
    wherever it lies. The element is *at a kink*, and skipped, when that residual exceeds
    ``atol / 2`` and either a quarter of its error or ``KINK_BEND`` (1e-4) of the slopes
    (several ties broken at once, as on a blank patch of an image, need the second). A
    wrong derivative of a smooth op leaves the slopes on their line: it still fails.

    Raises:
        ValueError: ``array`` is read-only.
    """
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    a = np.asarray(analytic, np.float64)[np.unravel_index(index, array.shape)]
    floor = atol / rtol
    losses, taken = perturbed_losses(loss, array, index, (eps, -eps))
    with np.errstate(invalid="ignore", divide="ignore"):
        n = (losses[:, 0] - losses[:, 1]) / (taken[:, 0] - taken[:, 1])
    err = relative_errors(a, n, floor)
    kink = np.zeros(len(index), dtype=bool)
    for k in np.flatnonzero(~(err <= rtol)):
        half, half_taken = perturbed_losses(loss, array, index[k:k + 1], (eps / 2, -eps / 2))
        (lh, ldh), (th, tdh) = half[0], half_taken[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            richardson = (4 * (lh - ldh) / (th - tdh) - n[k]) / 3
        # the same pass mark with three times the floor: rtol * max(|a|, |r|, 3 floor)
        e_r = float(relative_errors(a[k], richardson, 3 * floor))
        if e_r <= rtol:
            err[k] = min(err[k], e_r)
            continue
        at = np.array([taken[k, 1], tdh, 0.0, th, taken[k, 0]])
        ls = np.array([losses[k, 1], ldh, base, lh, losses[k, 0]])
        with np.errstate(invalid="ignore", divide="ignore"):
            slopes = np.diff(ls) / np.diff(at)
        if not np.isfinite(slopes).all():
            continue  # a non-finite loss: a disagreement, not a kink
        mid = (at[1:] + at[:-1]) / (2 * eps)
        bend = float(np.max(np.abs(slopes - np.polyval(np.polyfit(mid, slopes, 1), mid))))
        kink[k] = (bend > atol / 2
                   and bend > min(abs(a[k] - n[k]) / 4, KINK_BEND * np.abs(slopes).max()))
    ok = ~kink
    if ok.any():
        j = int(np.flatnonzero(ok)[np.argmax(err[ok])])
        worst, max_error, an, nu = int(index[j]), float(err[j]), float(a[j]), float(n[j])
        largest = float(np.max(np.abs(n[ok])))
    else:
        worst, max_error, an, nu, largest = None, 0.0, math.nan, math.nan, 0.0
    return TensorCheck(name, kind, tuple(array.shape), int(ok.sum()),
                       tuple(int(i) for i in index[kink]), max_error, worst, an, nu,
                       largest, bool(max_error <= rtol))


@dataclass(frozen=True)
class GradCheck:
    """The gradient check of one node (:meth:`Session.gradcheck_node`).

    Attributes:
        node: the node id.
        tensors: one :class:`TensorCheck` per float input port, then per parameter.
        tolerance: the pass mark on each element's relative error (``rtol``, 1e-6).
        atol: the absolute floor on ``|a - n|``, ``32 u max(|L|, 1) / eps``.
        eps: the step of the central differences.
        loss: the loss at the unperturbed point (float64).

    ``float(check)`` is :attr:`max_error`, for callers that want one number.
    """

    node: str
    tensors: tuple[TensorCheck, ...]
    tolerance: float
    atol: float
    eps: float
    loss: float

    @property
    def max_error(self) -> float:
        """The largest relative error over every checked element (0 if none)."""
        return max((t.max_error for t in self.tensors), default=0.0)

    @property
    def checked(self) -> int:
        return sum(t.checked for t in self.tensors)

    @property
    def skipped_kinks(self) -> int:
        return sum(t.skipped_kinks for t in self.tensors)

    @property
    def passed(self) -> bool:
        """Some element was checked, and every checked element agrees."""
        return self.checked > 0 and all(t.passed for t in self.tensors)

    @property
    def verdict(self) -> str:
        """``"agrees"``, ``"disagrees"``, or ``"inconclusive"`` (every element sampled was
        at a kink)."""
        if self.checked == 0:
            return "inconclusive"
        return "agrees" if self.passed else "disagrees"

    @property
    def worst(self) -> TensorCheck | None:
        """The tensor with the largest error (None for no tensors)."""
        return max(self.tensors, key=lambda t: t.max_error, default=None)

    def __float__(self) -> float:
        return self.max_error

    def summary(self) -> str:
        """One line: the verdict, the largest error and where, and the kinks skipped."""
        text = f"{self.node}: {self.verdict}, max relative error {self.max_error:.2e}"
        worst = self.worst
        if worst is not None and worst.worst is not None and self.max_error > 0:
            text += f" at {worst.name}[{worst.worst}]"
        text += f", {self.checked} elements checked"
        if self.skipped_kinks:
            text += f", {self.skipped_kinks} at a kink skipped"
        return text
