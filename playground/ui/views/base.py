"""What every view dock shares: the :class:`Frame` it shows, the header with its PNG, SVG
and CSV buttons, the placeholder for projects the view does not apply to, and image helpers.

A view never reads the session: it is handed a :class:`Frame` (built from the worker's
newest :class:`~playground.session.Snapshot`, or from a timeline entry while the timeline
is scrubbed) and only calls ``setData``/``setImage`` on plot items it made once. A view
that is hidden (a tab behind another) keeps the frame and draws it when it is shown.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QSizePolicy, QStackedWidget,
                               QToolButton, QVBoxLayout, QWidget)

from ..plots import DARK_PLOT, _style_plot


@dataclass(frozen=True)
class Frame:
    """What the views show at one step: the live state, or a timeline entry's.

    Attributes:
        step: the training step shown.
        live: False while the timeline is scrubbed back.
        metrics, history: as in the Snapshot (a scrubbed frame's history stops at ``step``).
        boundary: the decision boundary, or None.
        views: the session's views (``nodes``, ``sequence``, the recipe's; see
            ``Session.views``).
        timeline: the timeline entries up to ``step``, oldest first.
        health: gradient health at ``step`` (the live one, or the entry's).
        recipe: ``"supervised"``, ``"gan"`` or ``"vae"``.
        running: whether training is running.
    """

    step: int = 0
    live: bool = True
    metrics: Mapping[str, float] = field(default_factory=dict)
    history: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    boundary: Any = None
    views: Mapping[str, Any] = field(default_factory=dict)
    timeline: tuple = ()
    health: Any = None
    recipe: str = "supervised"
    running: bool = False

    @property
    def nodes(self) -> Mapping[str, Any]:
        return self.views.get("nodes") or {}

    @classmethod
    def from_snapshot(cls, snap) -> "Frame":
        return cls(step=snap.step, live=True, metrics=snap.metrics, history=snap.history,
                   boundary=snap.boundary, views=snap.views, timeline=tuple(snap.timeline),
                   health=snap.health, recipe=snap.recipe, running=snap.running)

    @classmethod
    def from_entry(cls, entry, snap) -> "Frame":
        """The frame of timeline ``entry``; ``snap`` (the live snapshot) gives the history,
        cut at the entry's step."""
        history = {}
        for key, (steps, values) in snap.history.items():
            n = int(np.searchsorted(steps, entry.step, side="right"))
            history[key] = (steps[:n], values[:n])
        timeline = tuple(e for e in snap.timeline if e.step <= entry.step)
        return cls(step=entry.step, live=False, metrics=entry.metrics, history=history,
                   boundary=entry.boundary, views=entry.views, timeline=timeline,
                   health=entry.health, recipe=snap.recipe, running=snap.running)


# ------------------------------------------------------------------------------ images


def lut(name: str) -> np.ndarray:
    """A 256-entry RGB lookup table (uint8) of pyqtgraph's colormap ``name``."""
    return pg.colormap.get(name).getLookupTable(nPts=256)


def tile(images: np.ndarray, cols: int | None = None, gap: int = 1,
         fill: float = np.nan) -> np.ndarray:
    """Tiles of ``images`` (M, H, W) in a grid, ``gap`` cells of ``fill`` between them:
    returns (rows*(H+gap)-gap, cols*(W+gap)-gap), tile i at row i // cols, column i % cols
    (row 0 at the top)."""
    images = np.asarray(images, np.float32)
    m, h, w = images.shape
    cols = cols or int(np.ceil(np.sqrt(m)))
    rows = int(np.ceil(m / cols)) if m else 0
    out = np.full((max(rows * (h + gap) - gap, 0), max(cols * (w + gap) - gap, 0)), fill,
                  np.float32)
    for i in range(m):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = images[i]
    return out


def normalise_each(images: np.ndarray) -> np.ndarray:
    """Each image of ``images`` (M, H, W) scaled to [0, 1] by its own min and max (a
    constant image becomes 0)."""
    x = np.asarray(images, np.float32)
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def rgb_image(values: np.ndarray, table: np.ndarray, levels: tuple[float, float],
              background: str) -> np.ndarray:
    """``values`` (H, W) through the lookup ``table`` over ``levels`` as RGB (H, W, 3)
    uint8, NaN cells (tile gaps) in the ``background`` colour."""
    lo, hi = levels
    span = hi - lo if hi > lo else 1.0
    v = np.nan_to_num((np.asarray(values, np.float32) - lo) / span, nan=0.0)
    idx = np.clip((v * (len(table) - 1)).round(), 0, len(table) - 1).astype(np.intp)
    img = table[idx]
    bg = pg.mkColor(background)
    img[np.isnan(values)] = (bg.red(), bg.green(), bg.blue())
    return np.ascontiguousarray(img.astype(np.uint8))


def image_plot(layout: pg.GraphicsLayoutWidget, title: str, colors: dict, row: int = 0,
               col: int = 0, axes: bool = False) -> tuple[pg.PlotItem, pg.ImageItem]:
    """A PlotItem holding one row-major ImageItem (row 0 at the top), aspect locked."""
    plot = layout.addPlot(row=row, col=col)
    _style_plot(plot, title, colors, grid=False)
    plot.setAspectLocked(True)
    plot.invertY(True)
    if not axes:
        plot.hideAxis("left")
        plot.hideAxis("bottom")
    image = pg.ImageItem(axisOrder="row-major")
    plot.addItem(image)
    return plot, image


# ------------------------------------------------------------------------------- views



def tool_button(parent: QWidget, text: str, tip: str, slot) -> QToolButton:
    """A flat text button of a dock's header (PNG, SVG, CSV...) that calls ``slot``."""
    b = QToolButton(parent)
    b.setText(text)
    b.setToolTip(tip)
    b.setAutoRaise(True)
    b.clicked.connect(slot)
    return b

class ViewWidget(QWidget):
    """A view dock's contents: a header (caption, PNG, SVG and CSV buttons) over either the
    view's content or a placeholder explaining why the view is empty.

    Subclasses build their content in ``__init__`` (calling :meth:`set_content`), implement
    :meth:`render` (show a frame; return a placeholder text when the view does not apply)
    and :meth:`csv_table` (the data now shown).
    """

    #: the dock's title
    title = "View"
    #: what the view shows, for the placeholder before any training
    blurb = ""

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(parent)
        self.colors = colors
        self.node_names: Mapping[str, str] = {}
        self.frame: Frame | None = None
        self._drawn: Frame | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        head = QHBoxLayout()
        head.setContentsMargins(4, 0, 2, 0)
        self.caption = QLabel("", self)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        # a long caption is cut at the dock's edge (its tooltip has it all) rather than
        # widening the dock, which would take the width from the palette and the canvas
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head.addWidget(self.caption, 1)
        self.png_button = self._button("PNG", "Export this view as a PNG image",
                                       self._on_export_png)
        self.svg_button = self._button("SVG", "Export this view as an SVG vector image (for "
                                       "papers and slides)", self._on_export_svg)
        self.csv_button = self._button("CSV", "Export the numbers of this view as CSV",
                                       self._on_export_csv)
        head.addWidget(self.png_button)
        head.addWidget(self.svg_button)
        head.addWidget(self.csv_button)
        lay.addLayout(head)
        self.stack = QStackedWidget(self)
        self.placeholder = QLabel(self.blurb, self)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setMargin(24)
        self.stack.addWidget(self.placeholder)
        lay.addWidget(self.stack, 1)
        self.content: QWidget | None = None
        self.placeholder_text = ""
        self.show_placeholder(f"{self.blurb}\n\nPress Train to fill this view.")

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        return tool_button(self, text, tip, slot)

    def set_content(self, widget: QWidget) -> None:
        self.content = widget
        self.stack.addWidget(widget)

    def show_placeholder(self, text: str) -> None:
        self.placeholder_text = text
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)
        self.caption.setText("")

    def showing_content(self) -> bool:
        return self.content is not None and self.stack.currentWidget() is self.content

    def name(self, node: str | None) -> str:
        return self.node_names.get(node, node) if node else ""

    # -- frames ---------------------------------------------------------------------

    def show_frame(self, frame: Frame | None, force: bool = False) -> None:
        """Show ``frame`` now if the view is visible (or ``force``), else when it is shown."""
        self.frame = frame
        if force or self.isVisible():
            self._draw()

    def showEvent(self, event) -> None:  # Qt override: draw the frame kept while hidden
        super().showEvent(event)
        if self.frame is not self._drawn:
            self._draw()

    def _draw(self) -> None:
        self._drawn = self.frame
        if self.frame is None:
            self.show_placeholder(f"{self.blurb}\n\nPress Train to fill this view.")
            return
        try:
            problem = self.render(self.frame)
        except Exception as exc:  # a view never raises into the event loop
            problem = f"This view could not draw step {self.frame.step}: {exc}"
        if problem:
            self.show_placeholder(problem)
        elif self.content is not None:
            self.stack.setCurrentWidget(self.content)

    def render(self, frame: Frame) -> str | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def set_colors(self, colors: dict) -> None:
        self.colors = colors
        if self.frame is not None:
            self._drawn = None
            self.show_frame(self.frame)

    def set_caption(self, text: str, frame: Frame) -> None:
        when = "" if frame.live else f"   [timeline: step {frame.step:,}]"
        self.caption.setText(text + when)
        self.caption.setToolTip(text + when)

    # -- export ---------------------------------------------------------------------

    def csv_table(self) -> tuple[Sequence[str], Iterable[Sequence[Any]]]:
        """``(header, rows)`` of the numbers now shown."""
        return (), ()

    def export_png(self, path: str | Path) -> Path:
        """Save what the view shows (without its header) as a PNG. Raises OSError when
        the file cannot be written."""
        path = Path(path)
        if not self.stack.currentWidget().grab().save(str(path), "PNG"):
            raise OSError(f"{path}: cannot write the PNG")
        return path

    def export_svg(self, path: str | Path) -> Path:
        """Save what the view shows (without its header) as an SVG vector image: the
        widget painted into a QSvgGenerator, so curves, axes and text are vector paths and
        heatmaps embedded images. (pyqtgraph 0.14's SVGExporter fails on the paths Qt 6
        writes, pyqtgraph issue #3485.) Raises OSError when the file cannot be written."""
        path = Path(path)
        _paint_svg(self.stack.currentWidget(), path, self.title)
        if not path.is_file() or path.stat().st_size == 0:
            raise OSError(f"{path}: cannot write the SVG")
        return path

    def export_csv(self, path: str | Path) -> Path:
        """Save the numbers the view shows as CSV (a header row, then one row per value).
        Raises OSError when the file cannot be written."""
        path = Path(path)
        header, rows = self.csv_table()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row in rows:
                w.writerow([_cell(v) for v in row])
        return path

    def _default_name(self, ext: str) -> str:
        base = self.title.lower().replace(" ", "_")
        step = self.frame.step if self.frame is not None else 0
        return f"{base}_step{step}.{ext}"

    def _on_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {self.title} as PNG",
                                              self._default_name("png"), "PNG (*.png)")
        if path:
            self._export(self.export_png, path)

    def _on_export_svg(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {self.title} as SVG",
                                              self._default_name("svg"), "SVG (*.svg)")
        if path:
            self._export(self.export_svg, path)

    def _on_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {self.title} as CSV",
                                              self._default_name("csv"), "CSV (*.csv)")
        if path:
            self._export(self.export_csv, path)

    def _export(self, fn, path: str) -> None:
        try:
            fn(path)
        except OSError as exc:
            self.caption.setText(f"Export failed: {exc}")
        else:
            self.caption.setText(f"Exported {path}")


def _paint_svg(widget: QWidget, path: Path, title: str) -> None:
    """Paint ``widget`` (and its children) into an SVG file of its size."""
    if not path.parent.is_dir():
        raise OSError(f"{path.parent}: no such folder")
    size = widget.size() if widget.width() > 0 else QSize(640, 480)
    gen = QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(size)
    gen.setResolution(96)  # CSS pixels: browsers and Inkscape show it at the widget's size
    gen.setViewBox(QRect(0, 0, size.width(), size.height()))
    gen.setTitle(title)
    gen.setDescription("Exported from DL Playground")
    painter = QPainter()
    if not painter.begin(gen):
        raise OSError(f"{path}: cannot write the SVG")
    try:
        QWidget.render(widget, painter, QPoint(0, 0))  # not QGraphicsView.render: whole widget
    finally:
        painter.end()


def _cell(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return f"{float(v):.7g}"
    if isinstance(v, np.integer):
        return int(v)
    return v


class WrappedView(ViewWidget):
    """An existing plot widget (the curves, the decision boundary) inside a view: it gets
    the header with the export buttons and is fed frames like the others.

    Args:
        widget: the plot widget; it must have ``update_from(frame)`` and ``csv_table()``.
    """

    def __init__(self, title: str, widget: QWidget, colors: dict = DARK_PLOT, parent=None,
                 applies=None):
        self.title = title
        self.blurb = ""
        super().__init__(colors, parent)
        self.inner = widget
        self._applies = applies
        self.set_content(widget)
        self.stack.setCurrentWidget(widget)

    def render(self, frame: Frame) -> str | None:
        if self._applies is not None:
            problem = self._applies(frame)
            if problem:
                return problem
        self.inner.update_from(frame)
        self.set_caption("", frame)
        return None

    def csv_table(self):
        return self.inner.csv_table()

    def set_colors(self, colors: dict) -> None:
        self.colors = colors  # the wrapped widget gets its colours from the window


__all__ = ["Frame", "ViewWidget", "tool_button", "WrappedView", "image_plot", "lut", "normalise_each",
           "rgb_image", "tile"]
