"""The Session's op-by-op stepping and gradient check (a mixin of
:class:`~playground.session.session.Session`), and the errors and random-state guard they
share with it.

The machinery (running calls one at a time, the tape a backward walk reads, central
differences) is in :mod:`playground.session.stepping`; this module holds what needs the
session: its current batch, its recipe's objective and its step count.

Shapes: N batch.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from typing import TYPE_CHECKING, Iterator

import numpy as np

from playground.engine import Tensor, no_grad
from playground.engine._random import generator as _engine_generator
from playground.graph import Trace

from .stepping import (FLOAT64_U, GRADCHECK_EPS, GRADCHECK_ROUNDING, GRADCHECK_RTOL,
                       BackwardRecord, ForwardRecord, GradCheck, Tape, check_tensor, claim_ops,
                       float64_program, float64_wire, forward_record, run_calls, trace_of)

if TYPE_CHECKING:
    from playground.graph import Program
    from .recipes import Recipe


@contextlib.contextmanager
def preserved_rng():
    """Leave the engine's random generator as it was: views, evaluations and gradient
    checks that draw noise (a GAN's samples, dropout) must not change what training draws
    next, or a run would depend on when the UI looked at it."""
    gen = _engine_generator()
    state = gen.bit_generator.state
    try:
        yield gen
    finally:
        gen.bit_generator.state = state


class SessionError(ValueError):
    """The project cannot be trained as drawn; the message says why and what to do."""


class SessionStepping:
    """Forward and backward stepping and the gradient check of a :class:`Session`.

    Needs from the session: ``program``, ``recipe``, ``step_count``, ``data_node``,
    :meth:`current_batch` and :meth:`feeds`. The pass :meth:`forward_steps` finished is
    kept (``_tape``) for :meth:`backward_steps` until the weights or the graph change.
    """

    program: "Program"
    recipe: "Recipe"
    step_count: int
    data_node: str
    _tape: Tape | None  # (set in Session.__init__)
    _tape_key: tuple | None

    def drop_stepping_pass(self) -> None:
        """Forget the pass :meth:`forward_steps` finished: the weights it was made with
        changed outside :meth:`step` (a GAN player's own step, a weights load), so the
        next :meth:`backward_steps` runs a fresh forward pass."""
        self._tape = None

    def _tape_valid(self) -> bool:
        return self._tape is not None and self._tape_key == (self.step_count, self.program)

    def forward_steps(self) -> Iterator[ForwardRecord]:
        """Run the graph one node at a time on the current batch (:meth:`current_batch`),
        yielding a :class:`~playground.session.stepping.ForwardRecord` after each node.

        Running it to the end is ``Program.run`` on that batch (same outputs), and leaves
        the pass ready for :meth:`backward_steps`. Noise (Reparameterize, NoiseSource,
        dropout) is drawn from a copy of the engine's generator: stepping never changes
        what training draws next, and batch norm's running statistics are left as they
        were.
        """
        x, y = self.current_batch()
        owner: dict = {}
        out: dict[str, dict[str, Tensor]] = {}
        self._tape = None
        calls = run_calls(self.program, self.feeds(x, y))
        gen = _engine_generator()
        own = gen.bit_generator.state  # the pass draws the noise the next step would...
        # ...and batch norm normalises with the batch's statistics, as in training, but
        # its running statistics are put back after every node: stepping only looks
        buffers = [(b.data, b.data.copy()) for call in self.program.calls
                   if call.module is not None for b in call.module.buffers()
                   if b is not None]
        for i in itertools.count():
            training = gen.bit_generator.state
            gen.bit_generator.state = own
            try:
                call, kwargs, outputs = next(calls)
            except StopIteration:
                break
            finally:  # ...and leaves training's own draws as they were, between nodes too
                own = gen.bit_generator.state
                gen.bit_generator.state = training
                for live, kept in buffers:
                    live[...] = kept
            out[call.node_id] = outputs
            claim_ops(outputs, call.node_id, owner)
            yield forward_record(i, call, kwargs, outputs)
        trace = trace_of(self.program, out)
        self._tape = Tape(self.program, trace, owner, self.recipe.objective(trace))
        self._tape_key = (self.step_count, self.program)

    def backward_steps(self, jacobians: bool = True) -> Iterator[BackwardRecord]:
        """Backpropagate the current batch's loss one engine op at a time, yielding a
        :class:`~playground.session.stepping.BackwardRecord` per op (nearest the loss
        first), with its node, upstream, downstream and local Jacobians.

        Uses the pass :meth:`forward_steps` finished if nothing has changed since, else
        runs the forward pass first. The parameters' gradients are zeroed before the walk,
        so running it to the end leaves exactly the gradients ``loss.backward()`` leaves
        (no optimizer step is taken).
        """
        if not self._tape_valid():
            for _ in self.forward_steps():
                pass
        tape, self._tape = self._tape, None  # a backward walk frees the pass
        for p in self.program.parameters():
            p.grad = None
        yield from tape.backward(jacobians=jacobians)

    def gradcheck_node(self, node_id: str, eps: float = GRADCHECK_EPS,
                       max_checks: int = 32) -> GradCheck:
        """Check autograd's gradients of the loss with respect to node ``node_id``'s float
        inputs (each port, as a leaf of its own) and parameters against central
        differences, on the current batch, in a float64 copy of the program.

        At most ``max_checks`` elements per tensor are checked (an even spread over its
        flat C-order indices, always the same). Each element perturbs a C-contiguous
        float64 copy of the tensor in place; a kink of the loss inside ``[x - eps, x +
        eps]`` (ReLU at 0, a max-pool tie...) skips it and is reported. An element passes
        when its relative error ``|a - n| / max(|a|, |n|, atol / rtol)`` is at most
        ``rtol = 1e-6``, with the floor ``atol = 32 u max(|L|, 1) / eps`` (u = 2.2e-16)
        above the rounding of the loss: the derivation is in
        :func:`~playground.session.stepping.check_tensor`.

        Training state is untouched: the copy has its own weights, the engine's random
        generator is restored (and set back before every evaluation, so noise and
        dropout draw the same values in each), and the batch is not redrawn.

        Returns:
            a :class:`~playground.session.stepping.GradCheck`: ``passed``, ``verdict``
            (``"agrees"``/``"disagrees"``), ``max_error``, ``checked``,
            ``skipped_kinks`` and one ``TensorCheck`` per tensor; ``float()`` of it is the
            max error.

        Raises:
            SessionError: no node ``node_id``, it has neither parameters nor float inputs
                to check, or the loss is not finite.
        """
        try:
            call = self.program.call(node_id)
        except KeyError:
            raise SessionError(f"no node {node_id!r} in the compiled graph") from None
        prog = float64_program(self.program)
        x, y = (np.array(a, np.float64) if a.dtype.kind == "f" else a
                for a in self.current_batch())  # copies: the check perturbs its own arrays
        feeds = {self.data_node: {"x": Tensor(x), "target": Tensor(y)}}
        with preserved_rng() as gen:
            state = gen.bit_generator.state

            def run(inputs=None) -> Trace:  # every value on the wires in float64
                gen.bit_generator.state = state  # the same noise in every evaluation
                return trace_of(prog, {c.node_id: outputs for c, _, outputs in run_calls(
                    prog, feeds, inputs=inputs, wire=float64_wire)})

            def loss(inputs=None) -> Tensor:
                return self.recipe.objective(run(inputs))

            with no_grad():
                base = run()
            leaves = {}
            for port, src, sport in call.inputs:
                t = base[src][sport]
                if t.data.dtype.kind == "f":  # a fresh C-contiguous float64 copy per port
                    leaves[(node_id, port)] = Tensor(np.array(t.data, np.float64, order="C"),
                                                     requires_grad=True)
            module = prog.call(node_id).module
            params = list(module.named_parameters()) if module is not None else []
            if not leaves and not params:
                raise SessionError(f"node {node_id!r} has no parameters or float inputs to "
                                   "check")
            value = loss(leaves)
            value.backward()
            at = float(value.data)  # the loss at the unperturbed point
            if not math.isfinite(at):
                raise SessionError(f"the loss is {at} on the current batch: nothing to check")
            atol = GRADCHECK_ROUNDING * FLOAT64_U * max(abs(at), 1.0) / eps
            tensors = [*((p, "input", t) for (_, p), t in leaves.items()),
                       *((n, "parameter", t) for n, t in params)]
            checks = []
            with no_grad():
                for name, kind, t in tensors:
                    analytic = t.grad if t.grad is not None else np.zeros_like(t.data)
                    idx = np.unique(np.linspace(0, t.data.size - 1,
                                                min(max_checks, t.data.size)).astype(int))
                    checks.append(check_tensor(name, kind, lambda: float(loss(leaves).data),
                                               t.data, analytic, idx, at, atol=atol, eps=eps))
        return GradCheck(node_id, tuple(checks), GRADCHECK_RTOL, atol, eps, at)
