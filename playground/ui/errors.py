"""The errors panel: every invalid node with its message (what was expected, what came from
where, and one fix). Clicking one selects the node on the canvas and centres it.

It follows the graph's shape inference (``states_changed``), coalescing bursts of edits.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from playground.graph import GraphModel
from playground.ui.follow import FollowsModel

NODE_ROLE = Qt.ItemDataRole.UserRole + 1


class ErrorsWidget(FollowsModel, QWidget):
    """A list of the graph's errors, in execution order.

    Signals:
        node_selected(str): the node of the error the user clicked.
        count_changed(int): the number of errors after a refresh.
    """

    node_selected = Signal(str)
    count_changed = Signal(int)

    def __init__(self, model: GraphModel, parent=None):
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.itemClicked.connect(self._on_clicked)
        self.list.itemActivated.connect(self._on_clicked)
        self.empty = QLabel("No errors: every node's shapes check out.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.list)
        layout.addWidget(self.empty)
        self._follow_init()
        self.set_model(model)

    def errors(self) -> list[tuple[str, str]]:
        """``[(node_id, message)]`` as listed."""
        return [(self.list.item(i).data(NODE_ROLE), self.list.item(i).text())
                for i in range(self.list.count())]

    def refresh(self) -> None:
        self._timer.stop()
        if self.model is None:
            return
        errors = self.model.errors()
        order = self.model.topological_order()
        self.list.clear()
        for node in order:
            if node in errors:
                item = QListWidgetItem(f"⚠ {errors[node]}")
                item.setData(NODE_ROLE, node)
                item.setToolTip(errors[node])
                self.list.addItem(item)
        self.list.setVisible(bool(errors))
        self.empty.setVisible(not errors)
        self.count_changed.emit(len(errors))

    def _on_clicked(self, item: QListWidgetItem) -> None:
        node = item.data(NODE_ROLE)
        if node:
            self.node_selected.emit(node)
