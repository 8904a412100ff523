"""The Lesson dock: the open project's notes (``project.notes``) as readable text.

Notes are plain text with a little structure, rendered by :func:`notes_html`:

- paragraphs are separated by blank lines;
- a paragraph's first line is a heading when it is short and ends without a full stop
  (``What it shows``, ``Things to try``), or when it starts with ``#`` or is all bold;
- a paragraph's short lead-in label (``What to watch: ...``) is bold;
- ``**bold**``, ``*italic*`` and ```code``` inline; lines starting with ``- `` or ``* ``
  make a bulleted list; URLs become links.

The dock sits in a tab beside the inspector, which shows nothing before a node is selected:
opening a project brings the lesson to the front, and the first node selected after that
brings the inspector back.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QTextBrowser

#: Longest first line (characters) read as a heading.
HEADING_CHARS = 48

_INLINE = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*(.+?)\*\*"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<i>\1</i>"),
    (re.compile(r"(https?://[^\s<]+[^\s<.,;:)])"), r'<a href="\1">\1</a>'),
)
_BULLET = re.compile(r"^\s*[-*]\s+")
_WORDS = re.compile(r"[A-Za-z][\w '’-]*:?")  # a heading's text: words, at most a colon
_LEAD_IN = re.compile(r"^([A-Z][\w ]{0,30}:)(?=\s)")


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def _heading(lines: list[str]) -> str | None:
    """The paragraph's heading, if its first line is one: ``# text``, a line that is all
    ``**bold**``, or a short line of words only (no full stop, no lead-in label)."""
    first = lines[0].strip()
    if first.startswith("#"):
        return first.lstrip("#").strip()
    if re.fullmatch(r"\*\*[^*]+\*\*:?", first):
        return first.strip("*:").strip()
    if len(first) <= HEADING_CHARS and _WORDS.fullmatch(first):
        return first.rstrip(":").strip()
    return None


def notes_html(notes: str, title: str = "") -> str:
    """``notes`` (plain text, see the module doc) as HTML for a QTextBrowser, under
    ``title`` when given. Text is escaped; nothing in the notes runs or loads."""
    parts = [f"<h2>{html.escape(title)}</h2>"] if title else []
    for para in re.split(r"\n\s*\n", notes.strip()):
        lines = [ln.rstrip() for ln in para.strip().splitlines() if ln.strip()]
        if not lines:
            continue
        head = _heading(lines)
        if head is not None:
            lines.pop(0)
            parts.append(f"<h3>{_inline(head)}</h3>")
        items: list[str] = []
        text: list[str] = []

        def flush_text():
            if text:
                body = _inline(" ".join(text))
                # a lead-in label ("What to watch: ...") in bold
                parts.append("<p>" + _LEAD_IN.sub(r"<b>\1</b>", body, count=1) + "</p>")
                text.clear()

        def flush_items():
            if items:
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items)
                             + "</ul>")
                items.clear()

        for line in lines:
            if _BULLET.match(line):
                flush_text()
                items.append(_BULLET.sub("", line))
            elif items and line.startswith((" ", "\t")):
                items[-1] += " " + line.strip()  # a bullet's continuation line
            else:
                flush_items()
                text.append(line.strip())
        flush_text()
        flush_items()
    return "\n".join(parts)


#: Shown when a project has no notes.
NO_NOTES = ("This project has no lesson notes. The presets (File ▸ Presets) each come with "
            "notes on what they show and what to try.")


class LessonPanel(QTextBrowser):
    """Read-only, word-wrapped notes; links open in the system browser."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setReadOnly(True)
        self.setLineWrapMode(QTextBrowser.LineWrapMode.WidgetWidth)
        self.document().setDocumentMargin(10)
        self.document().setDefaultStyleSheet(
            "h2 { margin-bottom: 4px; } h3 { margin-top: 10px; margin-bottom: 2px; }"
            " p { margin-top: 0px; margin-bottom: 8px; } code { font-family: monospace; }")
        self.notes = ""

    def set_notes(self, notes: str, title: str = "") -> None:
        self.notes = notes or ""
        self.setHtml(notes_html(self.notes or NO_NOTES, title))
        self.verticalScrollBar().setValue(0)


class LessonController:
    """The Lesson dock of ``window`` (a MainWindow), tabbed with its inspector.

    Attributes:
        panel: the :class:`LessonPanel`; dock: its dock widget.
    """

    def __init__(self, window):
        self.window = window
        self.panel = LessonPanel(window)
        self.dock = window.add_dock("Lesson", self.panel, Qt.DockWidgetArea.RightDockWidgetArea)
        window.tabifyDockWidget(window.inspector_dock, self.dock)
        self._auto_raised = False
        window.canvas.selected_node_changed.connect(self._on_node_selected)

    def show_project(self, project) -> None:
        """Show ``project``'s notes; with notes, the dock is shown in front."""
        notes = project.notes
        if getattr(project, "result", "") and notes:
            notes = f"**Stated result:** {project.result}.\n\n{notes}"
        self.panel.set_notes(notes, project.name)
        if project.notes:
            self.dock.show()
            self.dock.raise_()
            self._auto_raised = True

    def _on_node_selected(self, node_id: str) -> None:
        if node_id and self._auto_raised:
            self._auto_raised = False
            if self.window.inspector_dock.isVisible():
                self.window.inspector_dock.raise_()


def install_lesson(window) -> LessonController:
    """Add the Lesson dock to ``window`` (a MainWindow) and its View menu entry."""
    controller = LessonController(window)
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and menu.title().replace("&", "") == "View":
            menu.addAction(controller.dock.toggleViewAction())
            break
    return controller


__all__ = ["LessonController", "LessonPanel", "NO_NOTES", "install_lesson", "notes_html"]
