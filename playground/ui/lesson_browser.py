"""File ▸ Presets ▸ Lesson Browser…: every preset, grouped by course topic.

The browser lists the trainable lessons first, by their ``topic`` in course order
(:data:`COURSE_ORDER`; a lesson with another topic follows them under its own heading),
then the architectures to inspect (the presets without a data node or a topic). Each row
shows the preset's name and its stated ``result``, with a thumbnail of its graph that the app
renders itself (the canvas scene drawn into an image, a few per event-loop turn so the
dialog opens at once). Selecting a row shows a bigger thumbnail and the lesson's notes;
Open (or a double-click, or Enter) opens it in the window, asking first about unsaved work.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QImage, QKeySequence, QPainter, QPixmap, \
    QUndoStack
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPushButton, QSplitter,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from playground.graph import GraphModel
from playground.graph.nodes.regression import DATA_SOURCES
from playground.project import Project, ProjectError, load, preset_names

from .canvas.scene import CanvasScene
from .lesson import LessonPanel
from .theme import current_theme

__all__ = ["COURSE_ORDER", "INSPECT_TOPIC", "LessonBrowser", "render_thumbnail",
           "lesson_groups", "install_lesson_browser"]

#: Topics in the order a course teaches them.
COURSE_ORDER = ("Foundations", "Vision", "Sequences and text", "Generative models")
#: The heading of the presets that have no data (architectures to inspect).
INSPECT_TOPIC = "Architectures to inspect"
#: Thumbnail size in the list, and in the detail pane (pixels).
ICON_SIZE = QSize(120, 68)
PREVIEW_SIZE = QSize(480, 270)


def lesson_groups(projects: dict[str, Project]) -> list[tuple[str, list[str]]]:
    """``[(topic, [preset names])]`` in browser order: the course topics, then other
    topics (alphabetical), then :data:`INSPECT_TOPIC`; names alphabetical within a topic.
    A trainable preset without a topic goes under "More lessons"; a preset without data
    goes under its topic when it has one (a lesson to step through, such as
    transposed_conv_demo), else under :data:`INSPECT_TOPIC`."""
    groups: dict[str, list[str]] = {}
    for name, project in projects.items():  # (the node types tell; no shape inference)
        trainable = any(n["type"] in DATA_SOURCES for n in project.graph["nodes"])
        topic = (project.topic or "More lessons") if trainable else \
            (project.topic or INSPECT_TOPIC)  # a lesson without data keeps its topic
        groups.setdefault(topic, []).append(name)
    others = sorted(t for t in groups if t not in COURSE_ORDER and t != INSPECT_TOPIC)
    order = [t for t in COURSE_ORDER if t in groups] + others + \
        ([INSPECT_TOPIC] if INSPECT_TOPIC in groups else [])
    return [(t, sorted(groups[t])) for t in order]


def render_thumbnail(project: Project, size: QSize = PREVIEW_SIZE) -> QImage:
    """The project's graph as the canvas draws it, fitted into ``size`` (pixels) on the
    theme's canvas background."""
    theme = current_theme()
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    model = GraphModel.from_dict(project.graph)
    scene = CanvasScene(model, QUndoStack(), theme)
    try:
        image.fill(scene.style.background)
        rect = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
        scale = min(size.width() / max(rect.width(), 1.0), size.height() / max(rect.height(), 1.0))
        w, h = rect.width() * scale, rect.height() * scale
        target = QRectF((size.width() - w) / 2, (size.height() - h) / 2, w, h)  # centred
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        scene.render(painter, target, rect, Qt.AspectRatioMode.KeepAspectRatio)
        painter.end()
    finally:
        scene.detach()
    return image


class LessonBrowser(QDialog):
    """The lesson browser for ``window`` (a MainWindow).

    Attributes:
        tree: topics and their presets (an item's ``data(0, UserRole)`` is the preset name).
        notes: the selected lesson's notes.
        projects: ``{name: Project}`` of every preset.
    """

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Lessons")
        self.projects: dict[str, Project] = {}
        for name in preset_names():
            try:
                self.projects[name] = load(name)
            except ProjectError:  # a broken preset is left out, never a crash
                continue
        self._thumbs: dict[str, QImage] = {}
        self._pending: list[QTreeWidgetItem] = []
        lay = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.tree = QTreeWidget(split)
        self.tree.setHeaderLabels(["Lesson", "Stated result"])
        self.tree.setIconSize(ICON_SIZE)
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        for topic, names in lesson_groups(self.projects):
            head = QTreeWidgetItem([topic, ""])
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(head)
            for name in names:
                item = QTreeWidgetItem([name, self.projects[name].result])
                item.setData(0, Qt.ItemDataRole.UserRole, name)
                item.setToolTip(1, self.projects[name].result)
                head.addChild(item)
                self._pending.append(item)
            head.setExpanded(True)
        right = QWidget(split)
        rlay = QVBoxLayout(right)
        self.preview = QLabel(right)
        self.preview.setFixedSize(PREVIEW_SIZE)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notes = LessonPanel(right)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.open_button = QPushButton("Open", right)
        self.open_button.setDefault(True)
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_selected)
        close = QPushButton("Close", right)
        close.clicked.connect(self.reject)
        buttons.addWidget(self.open_button)
        buttons.addWidget(close)
        rlay.addWidget(self.preview)
        rlay.addWidget(self.notes, 1)
        rlay.addLayout(buttons)
        split.addWidget(self.tree)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 540])
        self.tree.setColumnWidth(0, 270)
        lay.addWidget(split)
        self.resize(1140, 760)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemDoubleClicked.connect(lambda item, _: self.open_selected())
        self._icon_timer = QTimer(self)
        self._icon_timer.timeout.connect(self._render_some)
        self._icon_timer.start(0)
        first = self.item(self.window.project.name) or self._first_lesson()
        if first is not None:
            self.tree.setCurrentItem(first)

    # ----------------------------------------------------------------------- items

    def item(self, name: str) -> QTreeWidgetItem | None:
        """The row of preset ``name``, or None."""
        for i in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(i)
            for j in range(head.childCount()):
                if head.child(j).data(0, Qt.ItemDataRole.UserRole) == name:
                    return head.child(j)
        return None

    def topics(self) -> list[tuple[str, list[str]]]:
        """What the tree shows: ``[(topic, [names])]`` in order."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(i)
            out.append((head.text(0), [head.child(j).text(0) for j in range(head.childCount())]))
        return out

    def _first_lesson(self) -> QTreeWidgetItem | None:
        head = self.tree.topLevelItem(0)
        return head.child(0) if head is not None and head.childCount() else None

    def thumbnail(self, name: str) -> QImage:
        """The preview image of preset ``name`` (rendered once, then kept)."""
        if name not in self._thumbs:
            self._thumbs[name] = render_thumbnail(self.projects[name])
        return self._thumbs[name]

    def _render_some(self) -> None:
        """A few list icons per event-loop turn, so that the dialog stays responsive."""
        for _ in range(2):
            if not self._pending:
                self._icon_timer.stop()
                return
            item = self._pending.pop(0)
            name = item.data(0, Qt.ItemDataRole.UserRole)
            small = self.thumbnail(name).scaled(ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.SmoothTransformation)
            item.setIcon(0, QIcon(QPixmap.fromImage(small)))

    def _on_current(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        name = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        self.open_button.setEnabled(name is not None)
        if name is None:
            return
        project = self.projects[name]
        self.preview.setPixmap(QPixmap.fromImage(self.thumbnail(name)))
        text = project.notes
        if project.result:
            text = f"**Stated result:** {project.result}.\n\n{text}"
        self.notes.set_notes(text, name)

    def selected_name(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def open_selected(self) -> bool:
        """Open the selected lesson in the window (asking about unsaved work first);
        returns whether it opened, and closes the browser if so."""
        name = self.selected_name()
        if name is None or not self.window.open_project(name):
            return False
        self.accept()
        return True


def install_lesson_browser(window) -> QAction:
    """File ▸ Presets ▸ Lesson Browser… (Ctrl+Shift+O), first in the Presets menu."""
    action = QAction("Lesson Browser…", window)
    action.setShortcut(QKeySequence("Ctrl+Shift+O"))
    action.setStatusTip("Every preset by course topic, with its stated result and lesson")

    def open_browser():
        browser = LessonBrowser(window)
        browser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.lesson_browser = browser
        browser.show()

    action.triggered.connect(open_browser)
    menu = window.presets_menu
    first = menu.actions()[0] if menu.actions() else None
    menu.insertAction(first, action)
    menu.insertSeparator(first)
    window.addAction(action)
    return action

