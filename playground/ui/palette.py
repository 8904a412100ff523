"""The palette: every node type of the registry, by category, with a search box.

Items drag onto the canvas as MIME ``application/x-playground-node`` (data: the type name,
utf-8); a double-click asks the window to add the type at the canvas centre.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from playground.graph import REGISTRY

#: The MIME type a palette drag carries; the canvas accepts it (see ui_contract).
MIME_TYPE = "application/x-playground-node"

_TYPE_ROLE = Qt.ItemDataRole.UserRole + 1


def node_mime_data(type_name: str) -> QMimeData:
    """The QMimeData a palette drag of ``type_name`` carries."""
    mime = QMimeData()
    mime.setData(MIME_TYPE, type_name.encode("utf-8"))
    mime.setText(type_name)
    return mime


def _category_icon(category: str) -> QIcon:
    try:
        from .theme import category_color
        color = QColor(category_color(category))
    except Exception:  # the theme module is optional for the palette
        color = QColor("#888888")
    pix = QPixmap(12, 12)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(1, 1, 10, 10, 3, 3)
    painter.end()
    return QIcon(pix)


class PaletteTree(QTreeWidget):
    """Categories as top-level items, node types under them. Drags carry the type name."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setIndentation(12)
        self.setIconSize(QSize(12, 12))
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformRowHeights(True)
        self.setAnimated(True)

    # Qt overrides: what a drag of the selected item carries.
    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def mimeData(self, items) -> QMimeData:
        types = [it.data(0, _TYPE_ROLE) for it in items if it.data(0, _TYPE_ROLE)]
        if not types:
            return QMimeData()
        return node_mime_data(types[0])

    def supportedDropActions(self):
        return Qt.DropAction.CopyAction


class PaletteWidget(QWidget):
    """Search box over a :class:`PaletteTree` of the registry's node types.

    Signals:
        add_requested(type_name): the user double-clicked a node type (or pressed Enter).
    """

    add_requested = Signal(str)

    def __init__(self, registry=REGISTRY, parent=None):
        super().__init__(parent)
        self.registry = registry
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.tree = PaletteTree(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._populate()
        self.search.textChanged.connect(self._on_search_changed)
        self.search.returnPressed.connect(self._on_search_return)
        self.tree.itemDoubleClicked.connect(self._on_item_double_clicked)

    def _populate(self) -> None:
        for category, specs in self.registry.categories().items():
            top = QTreeWidgetItem([category])
            top.setIcon(0, _category_icon(category))
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            for spec in specs:
                if spec.type == "Group":  # made by grouping a selection (Ctrl+G), not dragged
                    continue
                item = QTreeWidgetItem([spec.type])
                item.setData(0, _TYPE_ROLE, spec.type)
                item.setToolTip(0, f"<b>{spec.type}</b><br>{spec.description}")
                item.setStatusTip(0, spec.description)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                top.addChild(item)
                self._items[spec.type] = item
            top.setExpanded(True)

    # -- queries (tests and the window use these) -------------------------------------

    def item(self, type_name: str) -> QTreeWidgetItem:
        """The tree item of a node type (KeyError if there is none)."""
        return self._items[type_name]

    def visible_types(self) -> list[str]:
        return [t for t, it in self._items.items() if not it.isHidden()]

    def mime_data(self, type_name: str) -> QMimeData:
        """Exactly what dragging ``type_name``'s item produces."""
        return self.tree.mimeData([self._items[type_name]])

    # -- handlers ---------------------------------------------------------------------

    def _on_search_changed(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            shown = 0
            for j in range(top.childCount()):
                child = top.child(j)
                spec = self.registry[child.data(0, _TYPE_ROLE)]
                hay = f"{spec.type} {spec.category} {spec.description}".lower()
                hide = bool(needle) and needle not in hay
                child.setHidden(hide)
                shown += not hide
            top.setHidden(shown == 0)
            top.setExpanded(True)

    def _on_search_return(self) -> None:
        visible = self.visible_types()
        if len(visible) >= 1 and self.search.text().strip():
            exact = [t for t in visible if t.lower() == self.search.text().strip().lower()]
            self.add_requested.emit(exact[0] if exact else visible[0])

    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int = 0) -> None:
        type_name = item.data(0, _TYPE_ROLE)
        if type_name:
            self.add_requested.emit(type_name)
