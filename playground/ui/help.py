"""The Help menu: Keyboard Shortcuts… (F1, ``QKeySequence.HelpContents``) and About.

The shortcut list is read from the window's menus when it opens (:func:`shortcut_rows`),
so it always matches the actions: every action with a shortcut, under its menu's path.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView,
                               QMenu, QMessageBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout)

import playground


def action_label(action: QAction) -> str:
    """The action's text without mnemonics, ellipsis or a tab-separated key hint."""
    return action.text().split("\t")[0].replace("&&", "\0").replace("&", "") \
        .replace("\0", "&").rstrip("…").rstrip(".").strip()


def action_keys(action: QAction) -> str:
    """The action's shortcuts as the platform writes them ("Ctrl+S, F5"); a key the
    action only hints at in its text (``"&Delete\\tDel"``) counts too."""
    keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()
            if not s.isEmpty()]
    if not keys and "\t" in action.text():
        keys = [action.text().split("\t", 1)[1]]
    return ", ".join(keys)


def _walk(menu: QMenu, path: str, seen: set, rows: list) -> None:
    for action in menu.actions():
        if action.isSeparator():
            continue
        sub = action.menu()
        if sub is not None:
            _walk(sub, f"{path} ▸ {action_label(action)}", seen, rows)
            continue
        keys = action_keys(action)
        if keys and id(action) not in seen:
            seen.add(id(action))
            rows.append((path, action_label(action), keys))


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """``(menu path, action, keys)`` for every action of ``window`` that has a shortcut:
    those in the menu bar in menu order, then the window's other actions (``"Other"``)."""
    rows: list[tuple[str, str, str]] = []
    seen: set = set()
    for action in window.menuBar().actions():
        if action.menu() is not None:
            _walk(action.menu(), action_label(action), seen, rows)
    for action in window.findChildren(QAction):
        keys = action_keys(action)
        if keys and id(action) not in seen and action.text():
            seen.add(id(action))
            rows.append(("Other", action_label(action), keys))
    return rows


class ShortcutsDialog(QDialog):
    """A table of :func:`shortcut_rows`: menu, action, keys."""

    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Keyboard Shortcuts")
        self.rows = shortcut_rows(window)
        lay = QVBoxLayout(self)
        self.table = QTableWidget(len(self.rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for r, row in enumerate(self.rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(560, min(720, 60 + 26 * len(self.rows)))


def about_text() -> str:
    return (f"<h3>DL Playground {html.escape(playground.__version__)}</h3>"
            "<p>Learn deep learning by building networks: drag layers onto the canvas, wire "
            "them, and watch the forward and backward passes, the gradients and the "
            "training curves live. The engine is numpy autograd with PyTorch's names, so "
            "what you learn carries straight over to PyTorch.</p>"
            "<p>Open a lesson from <b>File ▸ Presets</b>; <b>Help ▸ Keyboard Shortcuts</b> "
            "lists the keys.</p>")


class HelpMenu:
    """The Help menu of ``window`` (a MainWindow).

    Attributes:
        shortcuts_action, about_action; dialog: the last dialog opened, or None.
    """

    def __init__(self, window):
        self.window = window
        self.dialog: QDialog | None = None
        self.shortcuts_action = window.make_action(
            "&Keyboard Shortcuts…", self.show_shortcuts, [QKeySequence.StandardKey.HelpContents],
            "Every action's keyboard shortcut")
        self.about_action = window.make_action("&About DL Playground", self.show_about,
                                               tip="What this app is")
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        menu = window.menuBar().addMenu("&Help")
        menu.addAction(self.shortcuts_action)
        menu.addSeparator()
        menu.addAction(self.about_action)
        self.menu = menu

    def show_shortcuts(self) -> ShortcutsDialog:
        """Open the shortcut list (not modal); returns the dialog."""
        self._close()
        self.dialog = ShortcutsDialog(self.window)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.show()
        return self.dialog

    def show_about(self) -> QMessageBox:
        """Open the About box (window-modal, not blocking); returns it."""
        self._close()
        box = QMessageBox(QMessageBox.Icon.Information, "About DL Playground", about_text(),
                          QMessageBox.StandardButton.Ok, self.window)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.dialog = box
        return box

    def _close(self) -> None:
        if self.dialog is not None:
            try:
                self.dialog.close()
            except RuntimeError:  # already deleted
                pass
            self.dialog = None


def install_help(window) -> HelpMenu:
    """Add the Help menu to ``window`` (after its other menus)."""
    return HelpMenu(window)


__all__ = ["HelpMenu", "ShortcutsDialog", "about_text", "action_keys", "install_help",
           "shortcut_rows"]
