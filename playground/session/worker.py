"""The training worker: a thread that owns the running Session.

The UI never touches the session's arrays. Commands travel to the worker through a queue;
the worker publishes immutable :class:`Snapshot` objects by swapping one reference, and the
UI reads the newest one on its own timer (~30 Hz). No per-step signal crosses threads.

Pace: :meth:`TrainingWorker.train` runs to a target step, the next multiple of the
worker's ``run_length`` (a project's ``training.steps``), and stops there; pressing Train
again goes on to the next multiple (another ``run_length`` steps). ``run_length=None`` runs
until paused. ``max_rate`` caps the steps per second, so that a student can watch slow
learning; the worker waits on its command queue between steps, so commands stay prompt.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable

from .diagnose import RunawayWatch, explain_divergence
from .session import Session, Snapshot

#: Seconds between snapshots while training (~30 Hz).
PUBLISH_INTERVAL = 1 / 30
#: Seconds between decision-boundary refreshes while training (~10 Hz).
BOUNDARY_INTERVAL = 0.1
#: Fraction of training time the views (boundary, recipe and per-node views) may cost while
#: training: their refresh is spaced out beyond ``BOUNDARY_INTERVAL`` when they cost more.
VIEWS_BUDGET = 0.05
#: Fraction of training time the session's timeline may cost in the app, where a denser
#: timeline is worth more than in a headless run.
TIMELINE_BUDGET = 0.05


def next_target(step: int, run_length: int | None) -> int | None:
    """The step a run started at ``step`` stops at: the next multiple of ``run_length``
    after ``step`` (``run_length`` at step 0; ``2 * run_length`` once it is reached), or
    None (until stopped) when ``run_length`` is None."""
    if run_length is None:
        return None
    return (step // run_length + 1) * run_length


class TrainingWorker:
    """Runs ``session`` on a daemon thread.

    Commands (all non-blocking, safe from any thread): :meth:`train`, :meth:`pause`,
    :meth:`step_batches`, :meth:`reset`, :meth:`set_lr`, :meth:`set_optimizer`,
    :meth:`set_graph`, :meth:`set_health`, :meth:`set_run_length`, :meth:`set_max_rate`,
    :meth:`step_forward`, :meth:`step_backward`, :meth:`call` (run a function on the worker
    thread; returns a Future) and :meth:`stop`.

    It sets the session's ``timeline_budget`` to :data:`TIMELINE_BUDGET`: the app's
    timeline is denser than a headless run's.

    Args:
        run_length: :meth:`train` stops at the next multiple of this many steps (see
            :func:`next_target`); None trains until paused.
        max_rate: most training steps per second (> 0), or None for as fast as it goes.

    Attributes:
        snapshot: the newest published :class:`Snapshot` (read it; never mutate it).
        error: the last error message from a command, or "".
        culprit: the node id the last refused step named (see ``Session.step``'s
            non-finite guard), or None; cleared by the next command to train or reset.
        target: the step the current run stops at, or None (until stopped, or not run yet).
        at_target: the last run stopped because it reached its target (set before that
            run's last snapshot is published; cleared by the next command to train).
    """

    def __init__(self, session: Session, run_length: int | None = None,
                 max_rate: float | None = None):
        self.session = session
        session.timeline_budget = TIMELINE_BUDGET
        self.run_length = _run_length(run_length)
        self.max_rate = _rate(max_rate)
        self.target: int | None = None
        self.at_target = False
        self._next_step_at = 0.0  # perf_counter time before which no step starts (max_rate)
        self._commands: queue.Queue = queue.Queue()
        self._running = False
        self._stop = False
        self._times: deque[float] = deque(maxlen=200)
        self.error = ""
        self.culprit: str | None = None
        #: flags a finite loss that climbs far above its best (once per run)
        self.runaway = RunawayWatch()
        try:
            self.snapshot: Snapshot = session.snapshot()
        except Exception as exc:  # noqa: BLE001 - the views fail, the worker still starts
            self.error = f"the views could not be drawn: {exc}"
            self.snapshot = session.snapshot(boundary=False)
        self._last_publish = 0.0
        self._last_boundary = 0.0
        self._views_interval = BOUNDARY_INTERVAL
        self._stepping = None  # the forward or backward stepping generator in progress
        self._stepping_kind = ""
        self._thread = threading.Thread(target=self._loop, name="training-worker", daemon=True)
        self._thread.start()

    # -- commands (any thread) --------------------------------------------------------

    def train(self) -> None:
        """Train to the next target step (see :func:`next_target`), or until paused."""
        self._commands.put(("train",))

    def set_run_length(self, steps: int | None) -> None:
        """Runs stop at multiples of ``steps`` (> 0); None trains until paused. A running
        run gets its new target at once (the next multiple after the current step)."""
        steps = _run_length(steps)
        self._commands.put(("pace", "run_length", steps))

    def set_max_rate(self, steps_per_sec: float | None) -> None:
        """Cap training at ``steps_per_sec`` (> 0) steps per second; None removes the cap."""
        rate = _rate(steps_per_sec)
        self._commands.put(("pace", "max_rate", rate))

    def pause(self) -> None:
        self._commands.put(("pause",))

    def step_batches(self, n: int = 1) -> None:
        self._commands.put(("step", n))

    def reset(self) -> None:
        self._commands.put(("reset",))

    def set_lr(self, lr: float) -> None:
        self._commands.put(("call", lambda s: s.set_lr(lr), None))

    def set_optimizer(self, name: str) -> None:
        self._commands.put(("call", lambda s: s.set_optimizer(name), None))

    def set_graph(self, graph: dict) -> Future:
        """Live edit: pause, recompile keeping matching weights, resume if it was running."""
        return self.call(lambda s: s.set_graph(graph))

    def set_health(self, on: bool) -> None:
        """Switch gradient-health probing on or off (see ``Session.set_health``)."""
        self._commands.put(("call", lambda s: s.set_health(on), None))

    def step_forward(self) -> Future:
        """Pause, then run the next node of a forward step on the current batch. The
        Future's result is its ``ForwardRecord``, or None after the last node (the next
        call starts a new pass)."""
        return self._stepper("forward")

    def step_backward(self) -> Future:
        """Pause, then backpropagate through the next engine op (finishing the forward
        pass first if it is not done). The Future's result is its ``BackwardRecord``, or
        None after the last op (the next call starts a new pass)."""
        return self._stepper("backward")

    def step_player(self, player: str) -> Future:
        """Pause, then update one GAN player only (``GAN.player_step``: "discriminator" or
        "generator"); a stepping pass in progress is dropped. The Future has its metrics."""
        def step(session: Session):
            self._running = False
            self._stepping = None
            return session.recipe.player_step(player)
        return self.call(step)

    def _stepper(self, kind: str) -> Future:
        def advance(session: Session):
            self._running = False
            if self._stepping is None or self._stepping_kind != kind:
                if self._stepping is not None:  # backward from mid-forward: finish that pass
                    for _ in self._stepping:
                        pass
                self._stepping = (session.forward_steps() if kind == "forward"
                                  else session.backward_steps())
                self._stepping_kind = kind
            record = next(self._stepping, None)
            if record is None:
                self._stepping = None
            return record
        return self.call(advance)

    def call(self, fn: Callable[[Session], Any]) -> Future:
        """Run ``fn(session)`` on the worker thread between steps; the Future has its result
        or its exception (at once a RuntimeError when the thread has stopped, so a caller
        waiting on it never waits for nothing)."""
        fut: Future = Future()
        if not self._thread.is_alive():
            fut.set_exception(RuntimeError("the training worker has stopped"))
            return fut
        self._commands.put(("call", fn, fut))
        return fut

    def stop(self, timeout: float = 5.0) -> None:
        self._commands.put(("stop",))
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def steps_per_sec(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    # -- the thread -------------------------------------------------------------------

    def _publish(self) -> None:
        """Publish a snapshot; a failure to compute the views (e.g. a PCA of exploded
        embeddings) is reported and the snapshot goes out without them: the thread lives."""
        try:
            self._publish_snapshot()
        except Exception as exc:  # noqa: BLE001 - reported, never kills the thread
            self.error = f"the views could not be drawn: {exc}"
            try:
                self.snapshot = dataclasses.replace(
                    self.session.snapshot(boundary=False, running=self._running),
                    boundary=None)
            except Exception:  # noqa: BLE001 - keep the last good snapshot
                pass
            self._last_publish = time.perf_counter()

    def _publish_snapshot(self) -> None:
        now = time.perf_counter()
        # The decision boundary and the views cost forward passes: refresh them at ~10 Hz,
        # or less often when they would cost more than VIEWS_BUDGET of the training time.
        fresh = not self._running or now - self._last_boundary >= self._views_interval
        snap = self.session.snapshot(boundary=fresh, running=self._running,
                                     steps_per_sec=self.steps_per_sec() if self._running else 0.0)
        if fresh:
            self._last_boundary = now
            cost = time.perf_counter() - now
            self._views_interval = max(BOUNDARY_INTERVAL, cost / VIEWS_BUDGET)
        else:
            snap = dataclasses.replace(snap, boundary=self.snapshot.boundary,
                                       views=self.snapshot.views)
        self.snapshot = snap
        self._last_publish = now

    def _handle(self, cmd: tuple) -> None:
        kind = cmd[0]
        if kind == "train":
            self.culprit = None
            self._running = True
            self.at_target = False
            self._times.clear()
            self.target = next_target(self.session.step_count, self.run_length)
            self._next_step_at = 0.0
        elif kind == "pace":
            setattr(self, cmd[1], cmd[2])
            if cmd[1] == "run_length" and self._running:
                self.target = next_target(self.session.step_count, self.run_length)
            elif cmd[1] == "max_rate":  # the next step waits for the new cap, or none
                last = self._times[-1] if self._times else 0.0
                self._next_step_at = last + 1.0 / cmd[2] if cmd[2] else 0.0
        elif kind == "pause":
            self._running = False
        elif kind == "step":
            for _ in range(cmd[1]):
                self._do_step()
        elif kind == "reset":
            self.culprit = None
            self._running = False
            self.target = None
            self._stepping = None
            self.runaway.reset()
            self.session.reset()
        elif kind == "call":
            fn, fut = cmd[1], cmd[2]
            try:
                result = fn(self.session)
            except Exception as exc:  # reported, never raised into the thread's top
                self.error = str(exc)
                if fut is not None:
                    fut.set_exception(exc)
            else:
                if fut is not None:
                    fut.set_result(result)
        elif kind == "stop":
            self._stop = True

    def _do_step(self) -> None:
        self._stepping = None  # training moves on: a stepping pass in progress is stale
        started = time.perf_counter()
        if self.max_rate is not None:
            self._next_step_at = started + 1.0 / self.max_rate
        try:
            metrics = self.session.step()
        except Exception as exc:  # noqa: BLE001 - any failure pauses the run, reported
            self._running = False
            self.error = f"training stopped: {exc}"
            return
        self._times.append(time.perf_counter())
        if "diverged" in metrics:
            self._running = False
            divergence = self.session.divergence  # the culprit before the error: the UI
            self.culprit = divergence.node_id if divergence is not None else None  # reads
            self.error = explain_divergence(self.session)  # the culprit when error changes
        else:
            warning = self.runaway.update(metrics.get("loss", 0.0), self.session)
            if warning:
                self.error = warning
        if self._running and self.target is not None and self.session.step_count >= self.target:
            self._running = False  # the run's target: Train goes on to the next one
            self.at_target = True

    def _loop(self) -> None:
        while not self._stop:
            try:
                self._turn()
            except Exception as exc:  # noqa: BLE001 - the thread never dies: pause, report
                self._running = False
                self.error = f"training stopped: {exc}"
                self._publish()

    def _turn(self) -> None:
        """One turn of the loop: a command, or a training step (and a publish)."""
        # while training under a speed cap, wait for the next step's time on the queue
        wait = self._next_step_at - time.perf_counter() if self._running else None
        try:
            if not self._running:
                cmd = self._commands.get()
            elif wait is not None and wait > 0:
                cmd = self._commands.get(timeout=wait)
            else:
                cmd = self._commands.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd is not None:
            try:
                self._handle(cmd)
            except Exception as exc:  # noqa: BLE001 - a failed command is reported
                self._running = False
                self.error = f"{cmd[0]} failed: {exc}"
            self._publish()
            return
        if self._running and time.perf_counter() >= self._next_step_at:
            self._do_step()
            if time.perf_counter() - self._last_publish >= PUBLISH_INTERVAL or \
                    not self._running:
                self._publish()


def _run_length(steps: int | None) -> int | None:
    if steps is None:
        return None
    if int(steps) < 1:
        raise ValueError(f"run_length must be at least 1 step, got {steps}")
    return int(steps)


def _rate(steps_per_sec: float | None) -> float | None:
    if steps_per_sec is None:
        return None
    if not steps_per_sec > 0:
        raise ValueError(f"max_rate must be > 0 steps per second, got {steps_per_sec}")
    return float(steps_per_sec)
