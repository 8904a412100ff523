"""When training goes wrong: which node a NaN came from, and a loss that runs away.

* :func:`explain_divergence`: after a step whose loss is not finite, names the first node
  (in execution order) whose parameters hold NaN or infinite values, or, failing that,
  the first node whose output on the last batch does, and says what to try.
* :class:`RunawayWatch`: a loss that stays finite but climbs far above its best value
  (an oversized learning rate often does this for many steps before the numbers overflow).
  It is flagged once per run with the same advice.
* The non-finite guard (:func:`guard_optimizer`, :func:`find_culprit`,
  :class:`Divergence`): the session refuses an optimizer step whose loss or gradients are
  not finite, so the weights stay the last finite ones, and names the node where the NaN
  or infinity first appeared: forward outputs in program order first, then gradients going
  backward from the loss.

The session layer: numpy only, no Qt. The worker (``worker.py``) and ``playground train``
use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from playground.engine import Tensor, no_grad

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["explain_divergence", "RunawayWatch", "RUNAWAY_FACTOR", "RUNAWAY_STEPS",
           "RUNAWAY_JUMP", "NonFiniteStep", "Culprit", "Divergence", "guard_optimizer",
           "find_culprit", "describe"]

#: A loss this many times its best value so far...
RUNAWAY_FACTOR = 10.0
#: ...for this many consecutive steps is a runaway.
RUNAWAY_STEPS = 20
#: A loss this many times its best value is a runaway at once (issue 13: "loss x 1000 over
#: its minimum").
RUNAWAY_JUMP = 1000.0
#: Node types whose output holds -inf by design (an additive attention mask): their -inf
#: is not a divergence.
NEG_INF_BY_DESIGN = frozenset({"CausalMask"})
#: What usually makes a node of this type produce NaN or infinity, and the fix.
HINTS = {
    "Log": "ln of 0 is -inf and ln of a negative number is NaN: keep its input positive "
           "(a Softplus or Sigmoid before it, or add a small constant)",
    "Pow": "a non-integer or negative exponent of a value <= 0 is NaN or infinite: keep "
           "its input positive",
    "Exp": "e^x overflows float32 above x = 88: keep its input small (a Tanh or "
           "normalisation before it)",
}


def _advice(session: "Session") -> str:
    t = session.training
    tips = [f"lower the learning rate (now {t.lr:g})"]
    if getattr(t, "clip_grad_norm", None) is None:
        tips.append("turn on gradient clipping (training.clip_grad_norm)")
    return ", or ".join(tips) + ", then press Reset."


def _bad(array: np.ndarray, neg_inf_ok: bool = False) -> str | None:
    """``"NaN"`` / ``"infinite values"`` / None for a float array (``neg_inf_ok``: -inf
    is not counted)."""
    if array.dtype.kind != "f":
        return None
    if np.isnan(array).any():
        return "NaN"
    if (np.isposinf(array) if neg_inf_ok else np.isinf(array)).any():
        return "infinite values"
    return None


def explain_divergence(session: "Session") -> str:
    """One message for a run whose loss is not finite. After a step the guard refused
    (``session.divergence`` is set) it is that divergence's message; else the first node
    whose parameters hold NaN or infinite values, else the first node whose output does on
    the last batch (found by one forward pass in eval mode), and the advice. Never raises:
    a failing diagnosis gives the plain message."""
    divergence = getattr(session, "divergence", None)
    if divergence is not None:
        return divergence.message
    where = ""
    try:
        for call in session.program.calls:
            if call.module is None:
                continue
            for name, param in call.module.named_parameters():
                bad = _bad(param.data)
                if bad:
                    where = (f" The first node with {bad} is {call.spec.type} '{call.node_id}': "
                             f"its {name} blew up.")
                    break
            if where:
                break
        if not where:
            with session.inference(), no_grad():
                trace = session.run(session.feeds(*session.current_batch()))
            for call in session.program.calls:
                for port, value in trace[call.node_id].items():
                    bad = _bad(np.asarray(value.data))
                    if bad and call.spec.build is None:  # fed from outside: the data
                        return (f"training stopped: the loss is not finite. The batch itself "
                                f"holds {bad} ({call.spec.type} '{call.node_id}'.{port}): "
                                "the data is at fault, not the training. Check the dataset's "
                                "file and settings.")
                    if bad:
                        where = (f" The first node whose output holds {bad} is "
                                 f"{call.spec.type} '{call.node_id}' (port '{port}').")
                        break
                if where:
                    break
    except Exception:  # noqa: BLE001 - the diagnosis is a courtesy; the stop stands
        where = ""
    advice = _advice(session)
    return f"training stopped: the loss is not finite (it diverged).{where} " \
           f"{advice[0].upper()}{advice[1:]}"


class RunawayWatch:
    """Flags a finite loss that climbs: above ``jump`` × its best value so far at any step
    (the issue's rule, 1000×), or above ``factor`` × its best for ``steps`` consecutive
    steps (a slower climb, 10× for 20 steps, caught long before it reaches 1000×); in both
    cases only above 1e-3, so that a loss near 0 wobbling is not a runaway. :meth:`update`
    returns the warning once per run, then None until :meth:`reset`."""

    def __init__(self, factor: float = RUNAWAY_FACTOR, steps: int = RUNAWAY_STEPS,
                 jump: float = RUNAWAY_JUMP):
        self.factor = factor
        self.steps = steps
        self.jump = jump
        self.reset()

    def reset(self) -> None:
        self.best = math.inf
        self.high = 0
        self.flagged = False

    def update(self, loss: float, session: "Session | None" = None) -> str | None:
        """Feed one step's loss; the warning text when this step makes it a runaway."""
        if not math.isfinite(loss):
            return None
        self.best = min(self.best, loss)
        if self.best <= 0:  # a ratio to a best of 0 or below says nothing
            self.high = 0
            return None
        if loss > self.factor * self.best and loss > 1e-3:
            self.high += 1
        else:
            self.high = 0
        jumped = loss > self.jump * self.best and loss > 1e-3
        if (self.high >= self.steps or jumped) and not self.flagged:
            self.flagged = True
            advice = _advice(session) if session is not None else \
                "lower the learning rate, then press Reset."
            how = (f"{loss / self.best:,.0f} times its best" if jumped else
                   f"for {self.high} steps")
            return (f"the loss is running away: {loss:.4g} now against {self.best:.4g} at "
                    f"its best, {how}. Training goes on; {advice}")
        return None


# ------------------------------------------------------------------ the non-finite guard


class NonFiniteStep(Exception):
    """Raised by a guarded optimizer's ``step()`` (see :func:`guard_optimizer`) before it
    touches any parameter or optimizer state, when the loss or a gradient is not finite.
    ``what`` is ``"loss"`` or ``"gradient"``."""

    def __init__(self, what: str):
        super().__init__(f"the {what} is not finite (NaN or infinity), so the update was not "
                         "applied: the weights are the last finite ones. Lower the learning "
                         "rate, or press Reset")
        self.what = what


def _finite(a: np.ndarray) -> bool:
    """Whether every value of float array ``a`` is finite. One BLAS dot product decides:
    the sum of squares of finite values is finite unless it overflows (|a| above ~1e19 in
    float32), and only then is the elementwise test run; NaN and ±inf always make it
    non-finite. (The dot is the cheapest of the reductions: 0.8 µs for 1,000 values
    against 2.5 µs for ``sum`` and 3.6 µs for ``isfinite().all()``.)"""
    flat = a.ravel(order="K")  # a view of a C- or Fortran-ordered gradient, no copy
    return math.isfinite(np.dot(flat, flat)) or bool(np.isfinite(a).all())


def guard_optimizer(optimizer, loss_values: Callable[[], Iterable[np.ndarray]]) -> None:
    """Make ``optimizer.step()`` refuse to update when a value in ``loss_values()`` (the
    loss arrays of the pass being stepped) or a gradient of one of its parameters is not
    finite: it raises :class:`NonFiniteStep` first, so the parameters and the optimizer's
    state (momentum, Adam's moments) stay as they were before the step. Doing it again on
    the same optimizer does nothing.

    Cost: one dot product per parameter gradient per step (see :func:`_finite`)."""
    if getattr(optimizer, "_nonfinite_guard", False):
        return
    step = optimizer.step

    def guarded_step(closure=None):
        for value in loss_values():  # a 0-d loss, or one per example (reduction="none")
            if not (math.isfinite(value) if value.ndim == 0 else np.isfinite(value).all()):
                raise NonFiniteStep("loss")
        with np.errstate(over="ignore", invalid="ignore"):  # (the dots may overflow)
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is not None and not _finite(g):
                        raise NonFiniteStep("gradient")
        return step(closure)

    optimizer.step = guarded_step
    optimizer._nonfinite_guard = True


@dataclass(frozen=True)
class Culprit:
    """Where a NaN or infinity first appeared.

    Attributes:
        node_id: the compiled call's id (a node inside a block: ``"block/inner"``).
        kind: ``"data"`` (the batch itself), ``"output"`` (a forward output) or
            ``"gradient"`` (a gradient going backward).
        detail: the output port, the parameter (``"weight"``) or ``"input 'x'"`` (the
            gradient the node sends back to that input).
        bad: ``"NaN"`` or ``"infinite values"``.
    """

    node_id: str
    kind: str
    detail: str
    bad: str


@dataclass(frozen=True)
class Divergence:
    """A training step the guard refused: ``what`` (``"loss"``/``"gradient"``) was not
    finite at step ``step`` (the step that would have been taken); ``culprit`` (or None
    when no node could be named) and the ``message`` for the user."""

    step: int
    what: str
    culprit: Culprit | None
    message: str

    @property
    def node_id(self) -> str | None:
        return self.culprit.node_id if self.culprit is not None else None


def _forward_culprit(program, trace) -> Culprit | None:
    for call in program.calls:
        for port, t in (trace.outputs.get(call.node_id) or {}).items():
            if not isinstance(t, Tensor):
                continue
            bad = _bad(np.asarray(t.data), neg_inf_ok=call.spec.type in NEG_INF_BY_DESIGN)
            if bad:
                return Culprit(call.node_id, "data" if call.spec.build is None else "output",
                               port, bad)
    return None


def _backward_culprit(program, wires) -> Culprit | None:
    """Going backward from the loss (reverse program order): the first node whose
    parameters' gradient, or the gradient it sends back to an input, is not finite."""
    into: dict[str, list] = {}
    for (src, sport, dst, dport), t in wires.items():
        into.setdefault(dst, []).append((dport, t))
    for call in reversed(program.calls):
        if call.module is not None:
            for name, p in call.module.named_parameters():
                bad = _bad(p.grad) if p.grad is not None else None
                if bad:
                    return Culprit(call.node_id, "gradient", name, bad)
        for port, t in into.get(call.node_id, ()):
            bad = _bad(t.grad) if t.grad is not None else None
            if bad:
                return Culprit(call.node_id, "gradient", f"input '{port}'", bad)
    return None


def find_culprit(session: "Session", trace=None, rng_state=None) -> Culprit | None:
    """The first node where a NaN or infinity appeared in the refused step: the first
    forward output (program order) of ``trace`` (that step's pass) holding one, else the
    first gradient going backward, found by a probed forward and backward pass of a copy
    of the program on the same batch (with the engine's generator at ``rng_state`` if
    given; the session does not keep it, a microsecond a step, so dropout draws new
    masks there), else the first parameter gradient going backward in the session's own
    program. None when none can be named. Never raises; leaves the weights, the gradients
    and the generator as they were."""
    import copy
    from dataclasses import replace

    from playground.graph import Program

    from .health import Probe
    from .session_stepping import preserved_rng

    program = session.program
    try:
        if trace is not None and all(c.node_id in trace.outputs for c in program.calls):
            found = _forward_culprit(program, trace)  # (a partial pass, a GAN's: rerun)
            if found is not None:
                return found
        copied = Program([replace(c, module=copy.deepcopy(c.module)) for c in program.calls],
                         program.aliases)
        probe = Probe(copied)
        with preserved_rng() as gen:
            if rng_state is not None:
                gen.bit_generator.state = rng_state
            probed = session.run(session.feeds(*session.current_batch()), probe=probe,
                                 program=copied)
            found = _forward_culprit(copied, probed)
            if found is None:
                session.recipe.objective(probed).backward()
                found = _backward_culprit(copied, probe.wires)
        if found is not None:
            return found
    except Exception:  # noqa: BLE001 - the diagnosis is a courtesy; the refusal stands
        pass
    try:
        return _backward_culprit(program, {})
    except Exception:  # noqa: BLE001
        return None


def describe(session: "Session", culprit: Culprit | None, what: str, step: int) -> str:
    """The message for a refused step ``step`` (see :class:`Divergence`)."""
    if culprit is not None and culprit.kind == "data":
        return (f"training paused at step {step}: the loss is not finite. The batch itself "
                f"holds {culprit.bad} ({_type(session, culprit.node_id)} "
                f"'{culprit.node_id}'.{culprit.detail}): the data is at fault, not the "
                "training. Check the dataset's file and settings.")
    kept = " The step was not applied: the weights are the last finite ones."
    if culprit is None:
        where = f"the {what} is not finite (it diverged).{kept}"
    else:
        node = f"{_type(session, culprit.node_id)} '{culprit.node_id}'"
        so = f"so the {what} is not finite (it diverged).{kept}"
        if culprit.kind == "output":
            where = (f"the output of {node} holds {culprit.bad} (port '{culprit.detail}'), "
                     f"the first node whose output does; {so}")
            blown = _blown_parameter(session, culprit.node_id)
            if blown:
                where += f" Its {blown[0]} already holds {blown[1]}."
        else:
            what_grad = (f"the gradient it sends back to its {culprit.detail}"
                         if culprit.detail.startswith("input ") else
                         f"the gradient of its {culprit.detail}")
            where = (f"going backward, {node} is the first node whose gradient holds "
                     f"{culprit.bad} ({what_grad}); {so}")
        hint = HINTS.get(_type(session, culprit.node_id))
        if hint:
            where += f" {hint[0].upper()}{hint[1:]}."
    head = f"training paused at step {step}: {where}"
    if step <= 1:  # no update has been made yet: the learning rate is not the cause
        return (f"{head} It happens on the first batch, before any update, so the graph or "
                "its initial weights are at fault, not the learning rate.")
    t = session.training
    tips = [f"lower the learning rate (now {t.lr:g})"]
    if getattr(t, "clip_grad_norm", None) is None:
        tips.append("turn on gradient clipping (training.clip_grad_norm)")
    advice = ", or ".join(tips)
    return (f"{head} {advice[0].upper()}{advice[1:]}, then press Reset (or Train to "
            "go on from these weights, if the loss before this step was still reasonable).")


def _blown_parameter(session: "Session", node_id: str) -> tuple[str, str] | None:
    """(parameter name, "NaN"/"infinite values") of node ``node_id``'s first non-finite
    parameter, or None."""
    try:
        module = session.program.call(node_id).module
        for name, p in (module.named_parameters() if module is not None else ()):
            bad = _bad(p.data)
            if bad:
                return name, bad
    except Exception:  # noqa: BLE001
        pass
    return None


def _type(session: "Session", node_id: str) -> str:
    try:
        return session.program.call(node_id).spec.type
    except Exception:  # noqa: BLE001
        return "node"
