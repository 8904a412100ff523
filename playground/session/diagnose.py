"""When training goes wrong: which node a NaN came from, and a loss that runs away.

* :func:`explain_divergence`: after a step whose loss is not finite, names the first node
  (in execution order) whose parameters hold NaN or infinite values, or, failing that,
  the first node whose output on the last batch does, and says what to try.
* :class:`RunawayWatch`: a loss that stays finite but climbs far above its best value
  (an oversized learning rate often does this for many steps before the numbers overflow).
  It is flagged once per run with the same advice.

The session layer: numpy only, no Qt. The worker (``worker.py``) and ``playground train``
use them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from playground.engine import no_grad

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

__all__ = ["explain_divergence", "RunawayWatch", "RUNAWAY_FACTOR", "RUNAWAY_STEPS"]

#: A loss this many times its best value so far...
RUNAWAY_FACTOR = 10.0
#: ...for this many consecutive steps is a runaway.
RUNAWAY_STEPS = 20


def _advice(session: "Session") -> str:
    t = session.training
    tips = [f"lower the learning rate (now {t.lr:g})"]
    if getattr(t, "clip_grad_norm", None) is None:
        tips.append("turn on gradient clipping (training.clip_grad_norm)")
    return ", or ".join(tips) + ", then press Reset."


def _bad(array: np.ndarray) -> str | None:
    """``"NaN"`` / ``"infinite values"`` / None for a float array."""
    if array.dtype.kind != "f":
        return None
    if np.isnan(array).any():
        return "NaN"
    if np.isinf(array).any():
        return "infinite values"
    return None


def explain_divergence(session: "Session") -> str:
    """One message for a run whose loss is not finite: the first node whose parameters hold
    NaN or infinite values, else the first node whose output does on the last batch (found
    by one forward pass in eval mode), and the advice. Never raises: a failing diagnosis
    gives the plain message."""
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
    """Flags a finite loss that climbs: above ``factor`` × its best value so far for
    ``steps`` consecutive steps (and above 1e-3, so that a loss near 0 wobbling is not a
    runaway). :meth:`update` returns the warning once per run, then None until
    :meth:`reset`."""

    def __init__(self, factor: float = RUNAWAY_FACTOR, steps: int = RUNAWAY_STEPS):
        self.factor = factor
        self.steps = steps
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
        if loss > self.factor * self.best and loss > 1e-3:
            self.high += 1
        else:
            self.high = 0
        if self.high >= self.steps and not self.flagged:
            self.flagged = True
            advice = _advice(session) if session is not None else \
                "lower the learning rate, then press Reset."
            return (f"the loss is running away: {loss:.4g} now against {self.best:.4g} at "
                    f"its best, for {self.high} steps. Training goes on; {advice}")
        return None
