"""The main window's size and layout: fitted to the screen on first start, then restored.

On start the window fits the screen's available area (:func:`fit_geometry`); if an earlier
session saved its geometry and dock layout (``QSettings``, organisation
:data:`ORGANIZATION`, application :data:`APPLICATION`, INI format in the user's scope), they
are restored; on close they are saved. :data:`LAYOUT_VERSION` goes up whenever the docks
change, so that an old layout is dropped rather than restored half-right.

Tests point ``QSettings.setPath(IniFormat, UserScope, tmp)`` at a temporary directory.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QTabBar

ORGANIZATION = "dl-playground"
APPLICATION = "DL Playground"
#: Bumped when the set of docks or toolbars changes (restoreState refuses other versions).
LAYOUT_VERSION = 2
#: The window's size on a big screen (px); smaller screens get their available area.
PREFERRED_SIZE = (1600, 1000)


def settings() -> QSettings:
    """The app's settings store (INI format, the user's scope)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION,
                     APPLICATION)


def fit_geometry(available: QRect, preferred: tuple[int, int] = PREFERRED_SIZE) -> QRect:
    """The window's frame on a screen whose available area is ``available``: the preferred
    size, or all of the available area when that is smaller, centred in it."""
    w = min(preferred[0], available.width())
    h = min(preferred[1], available.height())
    x = available.x() + (available.width() - w) // 2
    y = available.y() + (available.height() - h) // 2
    return QRect(x, y, w, h)


def available_geometry() -> QRect | None:
    screen = QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else None


def fit_to_screen(window, available: QRect | None = None) -> None:
    """Size and place ``window`` for the screen (see :func:`fit_geometry`). The frame
    (title bar, borders) is taken off the available area where the platform reports it."""
    available = available if available is not None else available_geometry()
    if available is None or available.isEmpty():
        return
    rect = fit_geometry(available)
    frame = window.frameGeometry().size() - window.geometry().size()
    window.resize(max(1, rect.width() - frame.width()), max(1, rect.height() - frame.height()))
    window.move(rect.topLeft())


def _clamp(value: float, lo: int, hi: int) -> int:
    return int(max(lo, min(hi, value)))


def default_sizes(window, bottom_share: float = 0.3) -> None:
    """Share ``window``'s size out among its dock areas: the palette about an eighth of
    the width, the inspector's column about three tenths, the bottom docks
    ``bottom_share`` of the height; the canvas keeps the rest (at 1366×768 about 700×400
    pixels). Called on the first show when no saved layout was restored."""
    w, h = window.width(), window.height()
    horizontal = Qt.Orientation.Horizontal
    window.resizeDocks([window.palette_dock, window.inspector_dock],
                       [_clamp(0.12 * w, 150, 220), _clamp(0.30 * w, 320, 520)], horizontal)
    bottom = _clamp(bottom_share * h, 190, 0.45 * h)
    right = h - 120  # less the menu bar, toolbars and status bar
    window.resizeDocks([window.curves_dock, window.inspector_dock, window.boundary_dock],
                       [bottom, int(0.42 * right), int(0.58 * right)], Qt.Orientation.Vertical)


def fit_toolbar(toolbar, width: int) -> None:
    """Icons without their text on ``toolbar``'s buttons when the texts do not fit in
    ``width`` pixels (a 1366-pixel screen with big fonts); texts again when they do."""
    style = Qt.ToolButtonStyle
    if toolbar.toolButtonStyle() == style.ToolButtonTextBesideIcon:
        toolbar.setProperty("text_width", toolbar.sizeHint().width())
    needed = toolbar.property("text_width") or 0
    toolbar.setToolButtonStyle(style.ToolButtonIconOnly if needed > width
                               else style.ToolButtonTextBesideIcon)


def hide_stale_tab_bars(window) -> int:
    """Hide the dock tab bars that ``window``'s layout no longer uses; returns how many.

    Qt (6.11) leaves a tab group's old QTabBar visible, with its old tabs and place, when
    the group is rebuilt (tabifying, hiding every dock of a group, restoring a state); it
    then shows through wherever a dock comes to lie under it. A bar in use sits right
    under the dock of its current tab (tabs are at the bottom, Qt's default), so any
    other bar of the window is stale."""
    docks = {d.windowTitle(): d for d in window.findChildren(QDockWidget)
             if not d.isHidden() and not d.isFloating()}
    hidden = 0
    for bar in window.findChildren(QTabBar):
        if bar.parent() is not window or bar.isHidden():
            continue
        dock = docks.get(bar.tabText(bar.currentIndex())) if bar.count() else None
        box, at = (dock.geometry() if dock is not None else None), bar.geometry()
        if box is None or abs(at.top() - box.bottom() - 1) > 8 or abs(at.left() - box.left()) > 8:
            bar.hide()
            hidden += 1
    return hidden


def restore(window, store: QSettings | None = None) -> bool:
    """Restore ``window``'s saved geometry and dock layout. False when nothing was saved
    (or the layout is of another :data:`LAYOUT_VERSION`): the caller keeps its defaults."""
    store = store or settings()
    geometry = store.value("window/geometry")
    state = store.value("window/state")
    restored = False
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        restored = bool(window.restoreGeometry(geometry))
    if isinstance(state, QByteArray) and not state.isEmpty():
        restored = bool(window.restoreState(state, LAYOUT_VERSION)) and restored
    return restored


def save(window, store: QSettings | None = None) -> None:
    """Save ``window``'s geometry and dock layout for the next start."""
    store = store or settings()
    store.setValue("window/geometry", window.saveGeometry())
    store.setValue("window/state", window.saveState(LAYOUT_VERSION))
    store.sync()


__all__ = ["APPLICATION", "LAYOUT_VERSION", "ORGANIZATION", "available_geometry",
           "default_sizes", "fit_geometry", "fit_to_screen", "fit_toolbar",
           "hide_stale_tab_bars", "restore", "save", "settings"]
