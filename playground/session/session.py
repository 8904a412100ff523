"""Session: runs a Project. One training iteration per :meth:`Session.step`."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from playground import data as datasets
from playground.engine import Tensor, manual_seed, no_grad, optim
from playground.engine.nn.utils import clip_grad_norm_
from playground.engine.grad_mode import is_grad_enabled
from playground.graph import CompileError, GraphModel, Program, Trace, compile
from playground.graph.nodes.regression import DATA_SOURCES, source_dataset
from playground.project import Project, ProjectError, Training
from playground.project.format import HISTORY_PREFIX, OPTIMIZERS, TRAINING_STEP_KEY

from .diagnose import Divergence, NonFiniteStep, describe, find_culprit, guard_optimizer
from .gan import GAN
from .health import Health, Probe
from .history import History
from .language_model import Sampling, language_model_views
from .recipes import VAE, Recipe, RecipeError, grid_points
from .session_stepping import SessionError, SessionStepping, preserved_rng
from .stepping import Tape, run_calls, trace_of
from .timeline import Timeline, TimelineEntry
from .views import node_views, sequence_view

_blas_limited = False


def limit_blas_threads() -> None:
    """Run BLAS on one thread, process-wide, once.

    The course's models are small: on a 2-core machine every preset trains faster on one
    BLAS thread (digits_mlp ~3,700 vs ~3,300 steps/s), and with the other core busy the
    two-thread case collapses (~180 vs ~2,500 steps/s in one run while tests ran beside
    it). Measured by ``benchmarks/bench_train.py``.
    """
    global _blas_limited
    if not _blas_limited:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
        _blas_limited = True

#: Resolution of the decision-boundary grid, per side.
BOUNDARY_RES = 80
#: Resolution of the decision boundary kept in timeline entries.
TIMELINE_BOUNDARY_RES = 32
#: Fraction of training time the timeline may cost (it spaces its entries to fit). Small,
#: so that headless training pays next to nothing; the worker raises it for the app.
TIMELINE_BUDGET = 0.01
#: Fraction of training time gradient-health probing may cost while it is switched on.
HEALTH_BUDGET = 0.25


def perplexity(cross_entropy: float) -> float:
    """exp(mean cross-entropy in nats): the number of equally likely tokens the model is
    as unsure as, per token (Jurafsky & Martin, *Speech and Language Processing*, 3rd ed.,
    §3.2.1). inf when the cross-entropy is too large for a float (or not finite)."""
    try:
        return math.exp(cross_entropy)
    except OverflowError:
        return math.inf


#: recipe type (``project.recipe["type"]``) -> its class
RECIPES: dict[str, type[Recipe]] = {"supervised": Recipe, "vae": VAE, "gan": GAN}


def make_recipe(session: "Session", fields: Mapping[str, Any]) -> Recipe:
    """The recipe object for a project's (validated) recipe fields."""
    return RECIPES[fields.get("type", "supervised")](session, fields)


@dataclass(frozen=True)
class Boundary:
    """Class probabilities of a 2-D classifier over a grid.

    ``probs`` is (H, W, C) for the points ``x = linspace(*x_range, W)``,
    ``y = linspace(*y_range, H)``.
    """

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    probs: np.ndarray


@dataclass(frozen=True)
class Snapshot:
    """An immutable copy of what the views show. The UI only ever reads these.

    Attributes:
        step: training steps taken.
        metrics: the latest value of each metric.
        history: ``{metric: (steps, values)}`` arrays.
        boundary: the decision boundary for 2-D datasets, else None.
        steps_per_sec: recent training speed (0 when not training).
        running: whether the worker is training.
        recipe: the recipe's type (``"supervised"``, ``"vae"``, ``"gan"``).
        health: the latest gradient health (see :mod:`playground.session.health`), or None.
        views: the recipe's views (see :meth:`Session.views`), or empty.
        timeline: the timeline's entries, oldest first (see :mod:`.timeline`).
    """

    step: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)
    history: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    boundary: Boundary | None = None
    steps_per_sec: float = 0.0
    running: bool = False
    error: str = ""
    recipe: str = "supervised"
    health: Health | None = None
    views: Mapping[str, Any] = field(default_factory=dict)
    timeline: tuple[TimelineEntry, ...] = ()


def saved_run_snapshot(weights: Mapping[str, np.ndarray] | None) -> Snapshot | None:
    """A :class:`Snapshot` of the run saved in a weights file (its step count, curves and
    latest metrics; see :meth:`Session.training_state`), for showing a reopened project's
    curves before any session exists; None when the file keeps no run."""
    if not weights or TRAINING_STEP_KEY not in weights:
        return None
    history = {k[len(HISTORY_PREFIX):]: (v[0].copy(), v[1].copy()) for k, v in weights.items()
               if k.startswith(HISTORY_PREFIX) and v.shape[1] > 0}
    return Snapshot(step=int(weights[TRAINING_STEP_KEY]),
                    metrics=MappingProxyType({n: float(v[-1]) for n, (_, v) in history.items()}),
                    history=MappingProxyType(history))


class Session(SessionStepping):
    """Trains a project's graph with the project's recipe.

    ``Session(project)`` builds the graph, compiles it, loads the project's weights (those
    whose node id and shape still match) and makes the recipe's optimizers. The first
    Session limits BLAS to one thread for the process (:func:`limit_blas_threads`).

    Besides training (:meth:`step`, :meth:`train`, :meth:`evaluate`) it steps the forward
    pass one node at a time (:meth:`forward_steps`) and the backward pass one engine op at
    a time (:meth:`backward_steps`), checks one node's gradients against central
    differences (:meth:`gradcheck_node`), watches gradient health (:attr:`health`, while
    :meth:`set_health` is on) and keeps a :attr:`timeline` of compact snapshots.

    Args:
        project: the project to train.
        timeline: keep a timeline (on by default; it spaces its entries so that it costs at
            most ``TIMELINE_BUDGET`` of training time).

    Raises:
        SessionError: the graph has errors (a node too large for the memory budget at
            ``training.batch_size`` among them), would not fit in the budget as a whole,
            has no Dataset node, no loss (for recipes that need one), or does not fit the
            recipe (the message names the field).
        playground.graph.GraphFormatError: the project's graph refers to unknown types or
            params (the message names the field).
    """

    def __init__(self, project: Project, timeline: bool = True):
        limit_blas_threads()
        self.project = project
        self.training: Training = project.training
        self.model = GraphModel.from_dict(project.graph)
        self.history = History()
        self.metrics: dict[str, float] = {}
        self._eval_cost = 0.0
        self._step_cost = 0.0
        self._probe_cost = 0.0
        self.dataset: datasets.Dataset | None = None
        #: the batch the last step trained on (forward/backward stepping use it)
        self.batch: tuple[np.ndarray, np.ndarray] | None = None
        #: gradient health after the latest probed step (None until one ran)
        self.health: Health | None = None
        self.health_enabled = False
        self._health_every = 1
        self.timeline: Timeline | None = Timeline() if timeline else None
        #: fraction of training time the timeline may cost; None keeps its spacing fixed
        self.timeline_budget: float | None = TIMELINE_BUDGET
        self._tape: Tape | None = None
        self._tape_key: tuple | None = None
        #: the node the views follow (the UI's selection), or None for each view's default
        self.focus: str | None = None
        self._derived: dict[str, tuple[tuple, Any]] = {}  # see derived()
        #: what the sampling view of a language model generates (see :meth:`set_sampling`)
        self.sampling = Sampling()
        #: refuse optimizer steps whose loss or gradients are not finite (see :meth:`step`)
        self.guard_nonfinite = True
        #: the last step the guard refused, until a step is taken (None: none)
        self.divergence: Divergence | None = None
        self._train_trace: Trace | None = None  # the pass being stepped (the guard reads it)
        self._in_step = False
        self._build(fresh=True)
        if project.weights:
            self.loaded_weights = self.program.load_matching(project.weights)
        else:
            self.loaded_weights = []
        if self.loaded_weights:  # the run those weights came from: its steps and curves
            self._restore_training_state(project.weights)

    # -- building ---------------------------------------------------------------------

    def _build(self, fresh: bool, keep: Mapping[str, np.ndarray] | None = None) -> None:
        if fresh:
            manual_seed(self.training.seed)  # weights drawn after seeding: reproducible
        # the memory budget at the batch size, before anything is allocated (issue 13);
        # a graph that cannot train anyway (an Input node) hears that first, below
        self.model.set_batch_size(self.training.batch_size)
        graph = self.model.graph
        if not self.model.errors() and all(graph.nodes[n]["type"] != "Input" for n in graph):
            too_big = self.model.memory_error()
            if too_big:
                raise SessionError(too_big)
        try:
            program = compile(self.model)
        except CompileError as exc:
            raise SessionError(str(exc)) from None
        recipe = make_recipe(self, self.project.recipe)
        data_nodes = [c.node_id for c in program.calls if c.spec.type in DATA_SOURCES]
        if len(data_nodes) != 1:
            raise SessionError("the graph needs exactly one Dataset node to train, found "
                               f"{len(data_nodes)}. Add one from the palette's Data group."
                               if not data_nodes else
                               f"the graph has {len(data_nodes)} Dataset nodes; training "
                               "reads from one. Remove the others.")
        inputs = [c.node_id for c in program.calls if c.spec.type == "Input"]
        if inputs:
            raise SessionError(
                f"Input node {self.model.name(inputs[0])!r} has no data while training: Input "
                "nodes only declare a shape for the summary. Wire the Dataset node's x output "
                "instead, or delete the Input node.")
        if recipe.needs_loss_nodes and not program.losses:
            raise SessionError("the graph has no loss node, so there is nothing to minimise. "
                               "Add CrossEntropyLoss or MSELoss and wire the output and the "
                               "Dataset's target into it.")
        self.program = program
        self.kept_weights = program.load_matching(keep) if keep else []
        self.data_node = data_nodes[0]
        dataset = source_dataset(self.model.spec(self.data_node).type,
                                 self.model.params(self.data_node))
        if fresh or dataset is not self.dataset:  # a live edit keeps the batch order going
            self.dataset: datasets.Dataset = dataset
            self.loader = datasets.Loader(dataset.train, batch_size=min(
                self.training.batch_size, len(dataset.train)),
                rng=np.random.default_rng(self.training.seed))
            self.batch = None
        self.is_2d = self.dataset.feature_shape == (2,)
        # The first CrossEntropyLoss gives accuracy and the decision boundary.
        ce = [n for n in program.losses if program.call(n).spec.type == "CrossEntropyLoss"]
        self.logits_node = None
        if ce:
            port, src, sport = next(i for i in program.call(ce[0]).inputs if i[0] == "input")
            self.logits_node = (src, sport)
        #: a language model (the text dataset) minimising one mean cross-entropy reports
        #: perplexity = exp(loss) (see :func:`perplexity`)
        self.reports_perplexity = (
            self.dataset.name == "text" and recipe.type == "supervised"
            and len(program.losses) == 1 and list(program.losses) == ce
            and self.model.params(ce[0]).get("reduction", "mean") == "mean")
        if fresh:  # before bind: the LR schedule starts from step 0
            self.step_count = 0
        try:
            recipe.bind()
        except RecipeError as exc:  # (a live edit then rebuilds the old graph)
            raise SessionError(str(exc)) from None
        self.recipe: Recipe = recipe
        self._tape = None
        # the buffers (batch norm's running statistics) and a copy taken before each step:
        # a refused step puts back what its forward pass changed
        self._kept_buffers = [(b, b.data.copy()) for call in program.calls
                              if call.module is not None for b in call.module.buffers()
                              if b is not None]

    @property
    def optimizer(self) -> optim.Optimizer | None:
        """The optimizer of a one-optimizer recipe (supervised, VAE); None for a GAN (see
        :attr:`optimizers`)."""
        return self.recipe.optimizer

    @property
    def optimizers(self) -> list[optim.Optimizer]:
        return self.recipe.optimizers

    def reset(self) -> None:
        """Fresh weights (from the seed), fresh optimizers, an empty history and timeline."""
        self.history.clear()
        self.metrics = {}
        self.health = None
        self.divergence = None
        if self.timeline is not None:
            self.timeline.clear()
        self._build(fresh=True)

    def set_graph(self, graph: Mapping[str, Any]) -> list[str]:
        """Replace the graph (a live edit) and recompile, keeping the weights of every node
        whose id and parameter shapes are unchanged. Returns the keys kept.

        Raises SessionError if the new graph cannot train; the old one stays in place.
        """
        old_model, old_program = self.model, self.program
        keep = old_program.state_dict()
        self.model = GraphModel.from_dict(graph)
        try:
            self._build(fresh=False, keep=keep)
        except SessionError:
            self.model = old_model
            self._build(fresh=False, keep=keep)
            raise
        return self.kept_weights

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every optimizer (both players' in a GAN)."""
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.training.lr = float(lr)
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = float(lr)

    def set_optimizer(self, name: str) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
        self.training.optimizer = name
        self.recipe.make_optimizers()

    def set_health(self, on: bool = True) -> None:
        """Switch gradient-health probing on or off. While on, a step is probed every few
        steps (as often as ``HEALTH_BUDGET`` of the training time allows) and
        :attr:`health` is refreshed; while off, only timeline steps are probed."""
        self.health_enabled = bool(on)
        self._health_every = 1

    # -- running the graph --------------------------------------------------------------

    def feeds(self, x: np.ndarray, y: np.ndarray) -> dict:
        """The Dataset node's outputs for a batch ``x`` (N, *F), ``y`` (N, *T)."""
        return {self.data_node: {"x": Tensor(x), "target": Tensor(y)}}

    def run(self, feeds: Mapping[str, Mapping[str, Tensor]], *, probe: Probe | None = None,
            until: set[str] | None = None,
            inputs: Mapping[tuple[str, str], Tensor] | None = None,
            program: Program | None = None) -> Trace:
        """Run the program, or ``program`` (a copy of it; see
        :func:`playground.session.stepping.run_calls` for ``until`` and ``inputs``); a
        ``probe`` keeps every node output's and wire's gradient."""
        own = program is None or program is self.program
        program = self.program if program is None else program
        if probe is None and inputs is None and all(n in program.sources for n in feeds):
            trace = program.run(feeds, until)
        else:
            out: dict[str, dict[str, Tensor]] = {}
            for call, _, outputs in run_calls(program, feeds, until=until, inputs=inputs,
                                              wire=probe.wire if probe is not None else None):
                out[call.node_id] = outputs
                if probe is not None:
                    probe.watch(outputs)
            trace = trace_of(program, out)
        if self._in_step and own and is_grad_enabled():  # a training pass: the guard
            self._train_trace = trace  # checks its losses (see step)
        return trace

    @contextlib.contextmanager
    def inference(self):
        """Eval mode (dropout off, batch norm on its running statistics) and ``no_grad``
        for the block; training mode again after it."""
        self.program.eval()
        try:
            with no_grad():
                yield
        finally:
            self.program.train()

    def current_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The batch the last step trained on; before any step, the first ``batch_size``
        examples of the training split (the loader is not advanced)."""
        if self.batch is None:
            split = self.dataset.train
            n = self.loader.batch_size
            return split.input[:n], split.target[:n]
        return self.batch

    # -- training ---------------------------------------------------------------------

    def _forward(self, x, y):
        trace = self.run(self.feeds(x, y))
        return trace, self.recipe.objective(trace)

    def accuracy(self, trace: Trace, y: np.ndarray) -> float | None:
        """Fraction of correct class predictions (per position for sequence targets).

        Logits are (N, C), or for targets (N, L) PyTorch's (N, C, L) or else (N, L, C)."""
        if self.logits_node is None:
            return None
        logits = trace[self.logits_node[0]][self.logits_node[1]].data
        # PyTorch's layout (N, C, d1, ...) for targets (N, d1, ...); else (N, d1, ..., C)
        axis = 1 if logits.shape[2:] == y.shape[1:] else -1
        return float(np.mean(logits.argmax(axis=axis) == y))

    def step(self) -> dict[str, float]:
        """One training iteration of the recipe (for supervised training: a batch forward,
        backward and an optimizer step).

        Returns ``{"step", "loss", ...}``: ``accuracy`` where a CrossEntropyLoss gives one,
        the recipe's own metrics (VAE: ``reconstruction``, ``kl``; GAN: ``d_loss``,
        ``g_loss``, ``d_real``, ``d_fake``) and, on the steps where held-out metrics are
        computed, their ``val_`` versions (GAN: ``modes_covered``, ``high_quality``).

        The non-finite guard (on unless :attr:`guard_nonfinite` is False): an optimizer
        step whose loss or gradients hold NaN or infinity is not taken, so the weights and
        the optimizer's state stay the last finite ones (and batch norm's running
        statistics are put back). Then the step count does not move, :attr:`divergence`
        names the first node where the NaN or infinity appeared (see
        :func:`.diagnose.find_culprit`) and the metrics are ``{"step", "loss",
        "diverged": 1.0}``.
        """
        t0 = time.perf_counter()
        n = self.step_count + 1
        on_timeline = self.timeline is not None and self.timeline.due(n)
        if self.guard_nonfinite:
            self._arm_guard()
        self._in_step = True
        try:
            if on_timeline or (self.health_enabled and n % self._health_every == 0):
                return self._probed_step(n, on_timeline, t0)
            metrics, _ = self.recipe.train_step()
        except NonFiniteStep as refused:
            return self._refuse_step(n, refused.what)
        finally:
            self._in_step = False
            self._train_trace = None
        metrics = self._finish_step(n, metrics)
        cost = time.perf_counter() - t0
        self._step_cost = cost if self._step_cost == 0 else \
            self._step_cost + 0.05 * (cost - self._step_cost)
        self._after_step(metrics)
        return metrics

    def _arm_guard(self) -> None:
        """Before a step: guard every optimizer (see :func:`.diagnose.guard_optimizer`)
        and keep a copy of the buffers."""
        for opt in self.optimizers:
            if not getattr(opt, "_nonfinite_guard", False):
                guard_optimizer(opt, self._pass_losses)
        for b, kept in self._kept_buffers:
            np.copyto(kept, b.data)

    def _pass_losses(self) -> list[np.ndarray]:
        """The loss nodes' outputs in the pass being stepped (0-d, or per example with
        ``reduction="none"``)."""
        trace = self._train_trace
        if trace is None:
            return []
        outs = trace.outputs
        return [outs[n]["output"].data for n in self.program.losses if n in outs]

    def _refuse_step(self, n: int, what: str) -> dict[str, float]:
        """Step ``n`` had a non-finite loss or gradient, and its optimizer step was not
        taken: the weights and optimizer state are those before it; put the buffers back,
        name the culprit (:attr:`divergence`) and return ``{"step", "loss", "diverged"}``
        (the step count stays; nothing goes into the history)."""
        trace = self._train_trace
        losses = self._pass_losses()
        for b, kept in self._kept_buffers:
            b.data[...] = kept
        culprit = find_culprit(self, trace)
        self.divergence = Divergence(n, what, culprit, describe(self, culprit, what, n))
        with np.errstate(all="ignore"):
            loss = float(sum(np.sum(v) for v in losses)) if losses else math.nan
        metrics = {"step": self.step_count, "loss": loss, "diverged": 1.0}
        self.metrics.update(metrics)
        return metrics

    def clip_gradients(self) -> float | None:
        """Clip the gradients of every parameter to a total L2 norm of at most
        ``training.clip_grad_norm`` (``engine.nn.utils.clip_grad_norm_``, PyTorch's
        semantics); the recipes call it between backward and the optimizer step. Returns
        the total norm before clipping, or None when clipping is off."""
        max_norm = self.training.clip_grad_norm
        if max_norm is None:
            return None
        params = [p for p in self.program.parameters() if p.grad is not None]
        return float(clip_grad_norm_(params, max_norm)) if params else 0.0

    def _finish_step(self, n: int, metrics: dict[str, float]) -> dict[str, float]:
        self.step_count = n
        metrics = {"step": n, **metrics}
        if self.reports_perplexity:
            metrics["perplexity"] = perplexity(metrics["loss"])
        if not math.isfinite(metrics["loss"]):
            metrics["diverged"] = 1.0
        return metrics

    def _after_step(self, metrics: dict[str, float]) -> None:
        if self.dataset.val is not None and self._due_for_eval():
            metrics.update(self.evaluate())
        self.history.record(self.step_count, metrics)
        self.divergence = None
        self.metrics.pop("diverged", None)
        self.metrics.update(metrics)

    def _probed_step(self, n: int, on_timeline: bool, t0: float) -> dict[str, float]:
        """A step that keeps every gradient, then records health (and a timeline entry)."""
        probe = Probe(self.program)
        before = self.program.state_dict()
        metrics, trace = self.recipe.train_step(probe)
        metrics = self._finish_step(n, metrics)
        self.health = probe.health(n, trace, before)
        t1 = time.perf_counter()
        self._after_step(metrics)  # (held-out evaluation has its own budget)
        t2 = time.perf_counter()
        if on_timeline:
            self._record_entry(probe, trace)
        cost = time.perf_counter() - t0 - (t2 - t1)
        self._probe_cost = cost if self._probe_cost == 0 else \
            self._probe_cost + 0.2 * (cost - self._probe_cost)
        self._space_probes()
        return metrics

    def _space_probes(self) -> None:
        """Space probed steps so that they cost their budget of the training time."""
        if self._step_cost <= 0:
            return
        extra = max(self._probe_cost - self._step_cost, 0.0)
        if self.timeline is not None and self.timeline_budget:
            self.timeline.widen(math.ceil(extra / (self.timeline_budget * self._step_cost)))
        self._health_every = max(1, math.ceil(extra / (HEALTH_BUDGET * self._step_cost)))

    def _record_entry(self, probe: Probe, trace: Trace) -> None:
        boundary = self.boundary(TIMELINE_BOUNDARY_RES)
        if boundary is not None:
            boundary = Boundary(boundary.x_range, boundary.y_range,
                                boundary.probs.astype(np.float16))
        self.timeline.record(TimelineEntry(
            step=self.step_count, metrics=MappingProxyType(dict(self.metrics)),
            health=self.health, histograms=MappingProxyType(probe.histograms(trace)),
            boundary=boundary, views=MappingProxyType(self.views(small=True))))

    def _due_for_eval(self) -> bool:
        if self.step_count == 1:
            return True
        if self.training.eval_every <= 0:  # auto: keep evaluation under 10% of the training time
            k = 10 if self._step_cost == 0 else math.ceil(10 * self._eval_cost / self._step_cost)
            every = max(10, k)
        else:
            every = self.training.eval_every
        return self.step_count % every == 0

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics: for supervised and VAE training the loss (and accuracy, or
        the VAE's terms) on the whole held-out split under ``no_grad`` (``val_loss``,
        ``val_accuracy``, ...); for a GAN, mode coverage of generated samples. ``{}`` when
        the dataset has no held-out split."""
        if self.dataset.val is None:
            return {}
        t0 = time.perf_counter()
        with preserved_rng():
            out = self.recipe.evaluate()
        if self.reports_perplexity and "val_loss" in out:
            out["val_perplexity"] = perplexity(out["val_loss"])
        self._eval_cost = time.perf_counter() - t0
        return out

    def train(self, steps: int, callback=None) -> dict[str, float]:
        """Run ``steps`` iterations, then evaluate. ``callback(metrics)`` after each step
        may return True to stop early. Returns the final metrics."""
        for _ in range(steps):
            metrics = self.step()
            if callback is not None and callback(metrics):
                break
        final = dict(self.metrics)
        val = self.evaluate()
        if val and self.history.last_step(next(iter(val))) != self.step_count:
            self.history.record(self.step_count, val)
        final.update(val)
        final["step"] = self.step_count
        self.metrics.update(final)
        return final

    # -- views ------------------------------------------------------------------------

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) from the logits feeding the CrossEntropyLoss.

        Raises SessionError when the graph has no CrossEntropyLoss."""
        if self.logits_node is None:
            raise SessionError("predictions need a CrossEntropyLoss to name the logits")
        node, port = self.logits_node
        need = self.program.ancestors(node)
        dummy = np.zeros(len(x), dtype=np.int64)
        with self.inference():
            logits = self.program.run(self.feeds(x.astype(np.float32), dummy), until=need)
        z = logits[node][port].data.astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def boundary(self, res: int = BOUNDARY_RES) -> Boundary | None:
        """The decision boundary over the data's extent, for 2-D datasets; else None."""
        if not self.is_2d or self.logits_node is None:
            return None
        pts = self.dataset.train.input
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.1 * (hi - lo)
        grid, x_range, y_range = grid_points(lo - pad, hi + pad, res)
        probs = self.predict_proba(grid)
        return Boundary(x_range, y_range, probs.reshape(res, res, -1).astype(np.float32))

    def derived(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per compiled graph and data node and kept under
        ``name`` until either changes (a live edit recompiles): what a view finds in the
        graph (an autoencoder's encoder and decoder) need not be found again per frame."""
        key = (self.program, self.data_node)
        hit = self._derived.get(name)
        if hit is None or hit[0] != key:
            hit = self._derived[name] = (key, make())
        return hit[1]

    def set_focus(self, node_id: str | None) -> None:
        """Make the per-node views follow ``node_id`` (the selected node; None or an
        unknown id: each view shows its family's first node)."""
        self.focus = node_id or None

    def set_sampling(self, **settings) -> None:
        """Change what the sampling view generates: ``prompt`` (str), ``temperature``
        (>= 0, 0 = greedy), ``length`` (tokens, 1..2000), ``seed`` (>= 0).

        Raises ValueError naming a setting that does not exist or is out of range."""
        allowed = {"prompt": str, "temperature": (int, float), "length": int, "seed": int}
        for key, value in settings.items():
            if key not in allowed:
                raise ValueError(f"no sampling setting {key!r}; allowed: {', '.join(allowed)}")
            if isinstance(value, bool) or not isinstance(value, allowed[key]):
                raise ValueError(f"sampling {key} has the wrong type: {value!r}")
        if not settings.get("temperature", 0) >= 0 or not 1 <= settings.get("length", 1) <= 2000 \
                or settings.get("seed", 0) < 0:
            raise ValueError(f"sampling settings out of range: {settings} (temperature >= 0, "
                             "1 <= length <= 2000, seed >= 0)")
        self.sampling = replace(self.sampling, **settings)

    def views(self, small: bool = False) -> dict[str, Any]:
        """The views' data, fresh (see :mod:`playground.session.views`).

        The recipe's views: for a GAN ``real``, ``fake`` and (2-D data) ``discriminator``,
        or ``samples`` (images); for a VAE ``latent``, (2-D latent) ``manifold`` and
        ``samples`` (images decoded from 64 fixed draws of z ~ N(0, I)); see the recipes'
        ``views``. Then ``nodes``: the per-node views of :attr:`focus`
        (:func:`~playground.session.views.node_views`) and, for sequence targets,
        ``sequence`` (:func:`~playground.session.views.sequence_view`). ``small`` gives
        the coarser versions the timeline keeps."""
        with preserved_rng():
            out = dict(self.recipe.views(small))
            if self.recipe.type == "vae" and "latent" in out and \
                    getattr(self.recipe, "decoded", None) is not None:
                dim = out["latent"][0].shape[1]
                z = np.random.default_rng(0).standard_normal((64, dim))  # fixed draws
                images = self.recipe.decode(z)
                if images.ndim == 4:  # (M, C, H, W)
                    out["samples"] = images.astype(np.float16 if small else np.float32)
            out["nodes"] = node_views(self, self.focus, small)
            seq = sequence_view(self)
            if seq is not None:
                out["sequence"] = seq
            out.update(language_model_views(self, small))  # text: sampling, grads in time
        return out

    def snapshot(self, boundary: bool = True, steps_per_sec: float = 0.0,
                 running: bool = False) -> Snapshot:
        """An immutable copy of the latest state for the views. ``boundary=False`` skips
        the costly parts (the decision boundary and the recipe's views)."""
        return Snapshot(
            step=self.step_count,
            metrics=MappingProxyType(dict(self.metrics)),
            history=MappingProxyType(self.history.copy_arrays()),
            boundary=self.boundary() if boundary else None,
            steps_per_sec=steps_per_sec,
            running=running,
            recipe=self.recipe.type,
            health=self.health,
            views=MappingProxyType(self.views()) if boundary else MappingProxyType({}),
            timeline=self.timeline.entries() if self.timeline is not None else (),
        )

    def weights(self) -> dict[str, np.ndarray]:
        """Copies of all trained parameters, keyed ``"<node_id>.<param>"``."""
        return self.program.state_dict()

    def training_state(self) -> dict[str, np.ndarray]:
        """The run so far, as arrays for the weights file beside the parameters:
        ``"@step"`` (a 0-d float64, the steps taken) and ``"@history.<metric>"`` ((2, n)
        float64: steps, values) for each metric's curve. A Session made from a project
        whose weights load takes them back (see :mod:`playground.project.format`). Not
        kept: the optimizer's moments, the batch order and the timeline, so training
        after reopening continues from the weights but not bit for bit as it would have."""
        out = {TRAINING_STEP_KEY: np.array(float(self.step_count))}
        for name, (steps, values) in self.history.copy_arrays().items():
            out[f"{HISTORY_PREFIX}{name}"] = np.stack([steps, values])
        return out

    def saved_weights(self) -> dict[str, np.ndarray]:
        """What Save writes to the ``.npz``: :meth:`weights` and :meth:`training_state`."""
        return {**self.weights(), **self.training_state()}

    def _restore_training_state(self, state: Mapping[str, np.ndarray]) -> None:
        saved = saved_run_snapshot(state)
        if saved is None:
            return
        self.step_count = saved.step
        self.history.restore(saved.history)
        self.metrics = dict(saved.metrics)

    def to_project(self) -> Project:
        """The project as it stands now: the graph, settings, the trained weights and the
        run's step count and curves (:meth:`saved_weights`)."""
        return Project(name=self.project.name, graph=self.model.to_dict(),
                       training=self.training, recipe=dict(self.project.recipe),
                       notes=self.project.notes, topic=self.project.topic,
                       result=self.project.result, weights=self.saved_weights(),
                       path=self.project.path)


__all__ = ["Boundary", "ProjectError", "Session", "SessionError", "Snapshot",
           "perplexity", "saved_run_snapshot"]
