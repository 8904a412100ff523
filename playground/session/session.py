"""Session: runs a Project. One training iteration per :meth:`Session.step`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from playground import data as datasets
from playground.engine import Tensor, manual_seed, no_grad, optim
from playground.graph import CompileError, GraphModel, Program, compile, dataset_of
from playground.project import Project, ProjectError, Training

from .history import History

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


class SessionError(ValueError):
    """The project cannot be trained as drawn; the message says why and what to do."""


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
    """

    step: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)
    history: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    boundary: Boundary | None = None
    steps_per_sec: float = 0.0
    running: bool = False
    error: str = ""


class Session:
    """Trains a project's graph.

    ``Session(project)`` builds the graph, compiles it, loads the project's weights (those
    whose node id and shape still match) and makes the optimizer. The first Session limits
    BLAS to one thread for the process (:func:`limit_blas_threads`).

    Raises:
        SessionError: the graph has errors, no Dataset node, or no loss.
        playground.graph.GraphFormatError: the project's graph refers to unknown types or
            params (the message names the field).
    """

    def __init__(self, project: Project):
        limit_blas_threads()
        self.project = project
        self.training: Training = project.training
        self.model = GraphModel.from_dict(project.graph)
        self.history = History()
        self.metrics: dict[str, float] = {}
        self._eval_every = self.training.eval_every
        self._eval_cost = 0.0
        self._step_cost = 0.0
        self.dataset: datasets.Dataset | None = None
        self._build(fresh=True)
        if project.weights:
            self.loaded_weights = self.program.load_matching(project.weights)
        else:
            self.loaded_weights = []

    # -- building ---------------------------------------------------------------------

    def _build(self, fresh: bool, keep: Mapping[str, np.ndarray] | None = None) -> None:
        if fresh:
            manual_seed(self.training.seed)  # weights drawn after seeding: reproducible
        try:
            program = compile(self.model)
        except CompileError as exc:
            raise SessionError(str(exc)) from None
        data_nodes = [c.node_id for c in program.calls if c.spec.type == "Dataset"]
        if len(data_nodes) != 1:
            raise SessionError("the graph needs exactly one Dataset node to train, found "
                               f"{len(data_nodes)}. Add one from the palette's Data group."
                               if not data_nodes else
                               f"the graph has {len(data_nodes)} Dataset nodes; supervised "
                               "training reads from one. Remove the others.")
        if not program.losses:
            raise SessionError("the graph has no loss node, so there is nothing to minimise. "
                               "Add CrossEntropyLoss or MSELoss and wire the output and the "
                               "Dataset's target into it.")
        self.program = program
        self.kept_weights = program.load_matching(keep) if keep else []
        self.data_node = data_nodes[0]
        dataset = dataset_of(self.model.params(self.data_node))
        if fresh or dataset is not self.dataset:  # a live edit keeps the batch order going
            self.dataset: datasets.Dataset = dataset
            self.loader = datasets.Loader(dataset.train, batch_size=min(
                self.training.batch_size, len(dataset.train)),
                rng=np.random.default_rng(self.training.seed))
        self.is_2d = self.dataset.feature_shape == (2,)
        # The first CrossEntropyLoss gives accuracy and the decision boundary.
        ce = [n for n in program.losses if program.call(n).spec.type == "CrossEntropyLoss"]
        self.logits_node = None
        if ce:
            port, src, sport = next(i for i in program.call(ce[0]).inputs if i[0] == "input")
            self.logits_node = (src, sport)
        self.optimizer = self._make_optimizer()
        if fresh:
            self.step_count = 0

    def _make_optimizer(self) -> optim.Optimizer:
        t = self.training
        params = self.program.parameters()
        if t.optimizer == "SGD":
            return optim.SGD(params, lr=t.lr, momentum=t.momentum,
                             nesterov=t.nesterov and t.momentum > 0, weight_decay=t.weight_decay)
        return optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)

    def reset(self) -> None:
        """Fresh weights (from the seed), a fresh optimizer, an empty history."""
        self.history.clear()
        self.metrics = {}
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
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.training.lr = float(lr)
        for group in self.optimizer.param_groups:
            group["lr"] = float(lr)

    def set_optimizer(self, name: str) -> None:
        if name not in ("SGD", "Adam"):
            raise ValueError(f"optimizer must be SGD or Adam, got {name!r}")
        self.training.optimizer = name
        self.optimizer = self._make_optimizer()

    # -- training ---------------------------------------------------------------------

    def _feeds(self, x: np.ndarray, y: np.ndarray) -> dict:
        return {self.data_node: {"input": Tensor(x), "target": Tensor(y)}}

    def _forward(self, x, y):
        trace = self.program.run(self._feeds(x, y))
        losses = [trace[n]["output"] for n in self.program.losses]
        loss = losses[0]
        for extra in losses[1:]:
            loss = loss + extra
        return trace, loss

    def _accuracy(self, trace, y: np.ndarray) -> float | None:
        if self.logits_node is None:
            return None
        logits = trace[self.logits_node[0]][self.logits_node[1]].data
        return float(np.mean(logits.argmax(axis=1) == y))

    def step(self) -> dict[str, float]:
        """One training iteration: a batch forward, backward and an optimizer step.

        Returns ``{"step", "loss", "accuracy"}`` (accuracy where a CrossEntropyLoss gives
        one) and, on the steps where held-out metrics are computed, ``val_loss`` and
        ``val_accuracy``.
        """
        t0 = time.perf_counter()
        x, y = self.loader.next_batch()
        self.optimizer.zero_grad()
        trace, loss = self._forward(x, y)
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        metrics = {"step": self.step_count, "loss": float(loss.data)}
        acc = self._accuracy(trace, y)
        if acc is not None:
            metrics["accuracy"] = acc
        if not math.isfinite(metrics["loss"]):
            metrics["diverged"] = 1.0
        self._step_cost += 0.05 * ((time.perf_counter() - t0) - self._step_cost)
        if self.dataset.val is not None and self._due_for_eval():
            metrics.update(self.evaluate())
        self.history.record(self.step_count, metrics)
        self.metrics.update(metrics)
        return metrics

    def _due_for_eval(self) -> bool:
        if self.step_count == 1:
            return True
        if self._eval_every <= 0:  # auto: keep evaluation under 10% of the training time
            k = 10 if self._step_cost == 0 else math.ceil(10 * self._eval_cost / self._step_cost)
            every = max(10, k)
        else:
            every = self._eval_every
        return self.step_count % every == 0

    def evaluate(self) -> dict[str, float]:
        """Loss and accuracy on the whole held-out split, under ``no_grad``.

        Returns ``{"val_loss", "val_accuracy"}`` (accuracy where it applies), or ``{}``
        when the dataset has no held-out split.
        """
        if self.dataset.val is None:
            return {}
        t0 = time.perf_counter()
        val = self.dataset.val
        self.program.eval()
        with no_grad():
            trace, loss = self._forward(val.input, val.target)
        self.program.train()
        out = {"val_loss": float(loss.data)}
        acc = self._accuracy(trace, val.target)
        if acc is not None:
            out["val_accuracy"] = acc
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
        if val and self.history.last_step("val_loss") != self.step_count:
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
        self.program.eval()
        with no_grad():
            logits = self.program.run(self._feeds(x.astype(np.float32), dummy), until=need)
        self.program.train()
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
        lo, hi = lo - pad, hi + pad
        xs = np.linspace(lo[0], hi[0], res)
        ys = np.linspace(lo[1], hi[1], res)
        gx, gy = np.meshgrid(xs, ys)
        probs = self.predict_proba(np.stack([gx.ravel(), gy.ravel()], axis=1))
        return Boundary((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])),
                        probs.reshape(res, res, -1).astype(np.float32))

    def snapshot(self, boundary: bool = True, steps_per_sec: float = 0.0,
                 running: bool = False) -> Snapshot:
        """An immutable copy of the latest state for the views."""
        return Snapshot(
            step=self.step_count,
            metrics=MappingProxyType(dict(self.metrics)),
            history=MappingProxyType(self.history.copy_arrays()),
            boundary=self.boundary() if boundary else None,
            steps_per_sec=steps_per_sec,
            running=running,
        )

    def weights(self) -> dict[str, np.ndarray]:
        """Copies of all trained parameters, keyed ``"<node_id>.<param>"``."""
        return self.program.state_dict()

    def to_project(self) -> Project:
        """The project as it stands now: the graph, settings and the trained weights."""
        return Project(name=self.project.name, graph=self.model.to_dict(),
                       training=self.training, recipe=dict(self.project.recipe),
                       notes=self.project.notes, weights=self.weights(),
                       path=self.project.path)


__all__ = ["Boundary", "ProjectError", "Session", "SessionError", "Snapshot"]
