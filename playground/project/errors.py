"""The one error the project layer raises."""

from __future__ import annotations


class ProjectError(ValueError):
    """A project file that cannot be loaded or saved. ``field`` names the culprit
    (``"training.lr"``, ``"graph.nodes[2].type"``, ``"weights.fc1.weight"``, or ``""`` for
    the file as a whole)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field
