"""The non-finite guard in the window (issue 13): when training pauses on a NaN or an
infinity, the node the session named (``TrainingWorker.culprit``, see
``playground.session.diagnose``) is selected on the canvas and the view centred on it, so
the inspector and the per-node views show it; the status bar carries the worker's message,
which names it too."""

from __future__ import annotations


def show_culprit(canvas, worker) -> bool:
    """Select ``worker.culprit`` on ``canvas`` (a node inside a closed block selects the
    block). Returns whether a node was selected; False when there is no culprit."""
    node = getattr(worker, "culprit", None)
    return bool(node) and canvas.select_node(node, center=True)


__all__ = ["show_culprit"]
