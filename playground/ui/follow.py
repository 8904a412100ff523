"""Docks that follow a :class:`~playground.graph.GraphModel`'s shape inference.

Shape inference reruns after every edit and emits ``states_changed``; a burst of edits (a
paste, an undo of a group) emits it many times. :class:`FollowsModel` coalesces a burst into
one ``refresh()`` call ``REFRESH_MS`` milliseconds after the last signal.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer

from playground.graph import GraphModel

#: Milliseconds of quiet after ``states_changed`` before the dock refreshes.
REFRESH_MS = 30


class FollowsModel:
    """Mixin for a ``QWidget`` with a ``refresh()`` method that shows one GraphModel.

    Call :meth:`_follow_init` in ``__init__`` (after the widgets exist), then
    :meth:`set_model`.
    """

    model: GraphModel | None

    def _follow_init(self) -> None:
        self.model = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    def set_model(self, model: GraphModel) -> None:
        """Follow ``model`` instead of the current one, and refresh now."""
        if self.model is not None:
            self.model.states_changed.disconnect(self._on_states_changed)
        self.model = model
        model.states_changed.connect(self._on_states_changed)
        self.refresh()

    def detach(self) -> None:
        """Stop following (the window is closing or the model is being replaced)."""
        if self.model is not None:
            self.model.states_changed.disconnect(self._on_states_changed)
            self.model = None
        self._timer.stop()

    def _on_states_changed(self) -> None:
        self._timer.start()

    def refresh(self) -> None:  # pragma: no cover - every user overrides it
        raise NotImplementedError
