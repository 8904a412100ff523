"""The optimizers' race: several optimizers from one start on a 2-D test function, and the
data of the contour view that draws their paths.

A race project's graph has a TestFunction loss node (``playground.graph.nodes.optimization``)
fed by two Parameter nodes, the point's coordinates x and y. :func:`race` is
:func:`~playground.session.compare.compare` (the same overrides, the same initial weights,
the same batches) that also keeps each run's path: the point before every step, then the
point it ended at.

:data:`RACE` is the default line-up: SGD, SGD with momentum 0.9, Nesterov, AdaGrad, RMSprop
and Adam. SGD and its momentum variants share one learning rate (1e-3, below 2/λ_max of
Rosenbrock's valley, λ_max ≈ 1002 at (1, 1)) so that they differ only in momentum; the
adaptive ones take the learning rate their step size is measured in (their steps are
about lr per coordinate at first, whatever the gradient's size).

:func:`landscape_view` gives the contour view its data for a live session. The session
layer: no Qt.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from playground.graph.nodes.optimization import BOXES, MINIMA, test_function
from playground.project import Project

from .compare import RunConfig, RunResult, compare
from .session import Session, SessionError

__all__ = ["RACE", "race", "race_configs", "test_function_node", "landscape",
           "landscape_view", "path_of", "GRID_RES"]

#: The race's line-up: (label, overrides).
RACE: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("SGD", {"training.optimizer": "SGD", "training.lr": 1e-3, "training.momentum": 0.0,
             "training.nesterov": False}),
    ("momentum", {"training.optimizer": "SGD", "training.lr": 1e-3,
                  "training.momentum": 0.9, "training.nesterov": False}),
    ("Nesterov", {"training.optimizer": "SGD", "training.lr": 1e-3,
                  "training.momentum": 0.9, "training.nesterov": True}),
    ("AdaGrad", {"training.optimizer": "Adagrad", "training.lr": 0.5}),
    ("RMSprop", {"training.optimizer": "RMSprop", "training.lr": 0.01,
                 "training.momentum": 0.0}),
    ("Adam", {"training.optimizer": "Adam", "training.lr": 0.05}),
)
#: Points per side of the contour view's grid.
GRID_RES = 160


def race_configs() -> list[RunConfig]:
    """:data:`RACE` as run configs."""
    return [RunConfig(label, dict(o)) for label, o in RACE]


def test_function_node(graph: Mapping[str, Any]) -> str | None:
    """The id of the first TestFunction node of a project's ``graph`` dict, or None."""
    return next((n["id"] for n in graph.get("nodes", ()) if n.get("type") == "TestFunction"),
                None)


test_function_node.__test__ = False  # (not a pytest test, despite its name)


def path_of(session: Session) -> np.ndarray | None:
    """The path of a session's TestFunction node, float64 (K, 2): the point before each
    training step, and the point now (so K = steps + 1); None without a TestFunction."""
    call = _call(session)
    if call is None:
        return None
    path = call.module.path_array()
    now = _point(session, call)
    if now is not None:
        path = np.concatenate([path, now[None]])
    return path


def _call(session: Session):
    return next((c for c in session.program.calls if c.spec.type == "TestFunction"), None)


def _point(session: Session, call) -> np.ndarray | None:
    """The current (x, y): the values of the Parameters wired into the node's x and y."""
    srcs = {port: src for port, src, _ in call.inputs}
    if "x" not in srcs or "y" not in srcs:
        return None
    w = session.program
    out = []
    for port in ("x", "y"):
        module = w.call(srcs[port]).module
        weight = getattr(module, "weight", None)
        if weight is None:
            return None
        out.append(float(np.asarray(weight.data).reshape(-1)[0]))
    return np.array(out)


def race(project: Project, configs: Sequence[RunConfig] | None = None,
         steps: int | None = None,
         progress: Callable[[int, int, int, int], bool | None] | None = None
         ) -> list[RunResult]:
    """Train each of ``configs`` (default :func:`race_configs`) on the race ``project`` from
    the same start (:func:`~playground.session.compare.compare`) and keep each one's path.

    Args, Raises: as :func:`~playground.session.compare.compare`; also SessionError when
        the project has no TestFunction node.

    Returns:
        One :class:`~playground.session.compare.RunResult` per config, in order, whose
        ``extras`` hold ``"path"`` (float64 (steps + 1, 2): the point before each step,
        then the last one) and ``"function"`` (the test function's name).
    """
    if test_function_node(project.graph) is None:
        raise SessionError("the race needs a TestFunction loss node fed by two Parameters "
                           "(the point's x and y); add one from the palette's Losses group")
    configs = race_configs() if configs is None else list(configs)
    return compare(project, configs, steps, progress, collect=lambda s: {
        "path": path_of(s), "function": _call(s).module.function})


@lru_cache(maxsize=8)
def landscape(function: str, res: int = GRID_RES
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The function's values on a ``res`` × ``res`` grid over its box
    (:data:`~playground.graph.nodes.optimization.BOXES`): xs (res,), ys (res,) and
    values (res, res) float64 with y on the rows (``values[i, j] = f(xs[j], ys[i])``)."""
    x0, x1, y0, y1 = BOXES[function]
    xs, ys = np.linspace(x0, x1, res), np.linspace(y0, y1, res)
    gx, gy = np.meshgrid(xs, ys)
    values = test_function(function, gx, gy)
    for a in (xs, ys, values):
        a.setflags(write=False)
    return xs, ys, values


#: Most points of a path kept in a timeline entry (``small``).
SMALL_PATH = 256


def landscape_view(session: Session, small: bool = False) -> dict[str, Any] | None:
    """The contour view's data for a session with a TestFunction node, else None:
    ``{"node", "function", "path" (K, 2) float32, "minimum" (x, y)}``; the grid comes from
    :func:`landscape` (the same for every run of one function). ``small`` (timeline
    entries) keeps at most ``SMALL_PATH`` points of the path, evenly spaced, and its last."""
    call = _call(session)
    if call is None:
        return None
    function = call.module.function
    path = path_of(session)
    if small and len(path) > SMALL_PATH:
        path = path[np.unique(np.linspace(0, len(path) - 1, SMALL_PATH).astype(int))]
    return {"node": call.node_id, "function": function, "path": path.astype(np.float32),
            "minimum": MINIMA[function]}
