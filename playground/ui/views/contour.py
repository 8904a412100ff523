"""The contour view: a 2-D test function's landscape with the optimizers' paths on it.

:class:`ContourPlot` draws the landscape of a TestFunction (contour lines over a shaded
image of log(1 + f − min f), so that Rosenbrock's valley floor and its walls both show)
and any number of paths (K, 2) over it: the start as a ring, each path's end as a dot, the
minimum as a star. The live :class:`ContourView` dock shows the session's own path; the
Compare Runs dialog shows every run's (``playground.ui.compare``).

Contour lines are pyqtgraph's ``isocurve`` (marching squares) of the grid, computed once
per function and drawn as one line item per level.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from playground.graph.nodes.optimization import BOXES, MINIMA
from playground.session.race import landscape

from ..plots import CLASS_COLORS, DARK_PLOT, _style_plot
from .base import Frame, ViewWidget, lut, rgb_image

__all__ = ["ContourPlot", "ContourView", "contour_lines", "CONTOUR_LEVELS"]

#: Contour lines drawn per landscape.
CONTOUR_LEVELS = 14


def _shade(values: np.ndarray) -> np.ndarray:
    """log(1 + f − min f): Rosenbrock spans 0..2,500 in its box, a linear scale would show
    only the walls."""
    return np.log1p(values - values.min())


def contour_lines(function: str, levels: int = CONTOUR_LEVELS
                  ) -> list[tuple[float, np.ndarray]]:
    """The contour lines of ``function`` on its box: ``[(level, xy)]`` with ``xy`` (M, 2)
    float64 in the function's coordinates, NaN rows between separate pieces. Levels are
    evenly spaced in log(1 + f − min f) (see :func:`_shade`), f = level."""
    xs, ys, values = landscape(function)
    shaded = _shade(values)
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    out = []
    for s in np.linspace(0, shaded.max(), levels + 2)[1:-1]:
        pieces = []
        for piece in pg.isocurve(shaded, s, connected=True, extendToEdge=True):
            # isocurve's points are (row, col) with pixel centres at +0.5
            pts = np.asarray(piece, np.float64)
            xy = np.stack([xs[0] + (pts[:, 1] - 0.5) * dx, ys[0] + (pts[:, 0] - 0.5) * dy], 1)
            pieces.extend([xy, np.full((1, 2), np.nan)])
        if pieces:
            out.append((float(np.expm1(s) + values.min()), np.concatenate(pieces)))
    return out


class ContourPlot(pg.PlotWidget):
    """A test function's landscape and paths over it (see the module doc).

    Attributes:
        function: the landscape shown, or None before :meth:`set_function`.
        paths: ``[(label, path (K, 2))]`` as last set.
    """

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(parent, background=colors["background"])
        self.colors = colors
        self.plot = self.getPlotItem()
        _style_plot(self.plot, "", colors)
        self.plot.setAspectLocked(False)
        self.plot.setLabel("bottom", "x")
        self.plot.setLabel("left", "y")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setOpacity(0.55)
        self.plot.addItem(self.image)
        self.function: str | None = None
        self.paths: list[tuple[str, np.ndarray]] = []
        self._lines: list[pg.PlotDataItem] = []
        self._runs: list[tuple[pg.PlotDataItem, pg.ScatterPlotItem]] = []
        self.start = pg.ScatterPlotItem(size=13, symbol="o", brush=None,
                                        pen=pg.mkPen("w", width=2))
        self.minimum = pg.ScatterPlotItem(size=18, symbol="star", brush=pg.mkBrush("#ffd54f"),
                                          pen=pg.mkPen("k", width=1))
        self.legend = self.plot.addLegend(offset=(-6, -6), labelTextSize="8pt",
                                          verSpacing=-6, brush=pg.mkBrush(0, 0, 0, 110),
                                          labelTextColor="#e6e6e6")
        for item in (self.start, self.minimum):
            item.setZValue(20)
            self.plot.addItem(item)

    def set_function(self, function: str) -> None:
        """Draw ``function``'s landscape (nothing changes when it is already shown)."""
        if function == self.function:
            return
        self.function = function
        xs, ys, values = landscape(function)
        shaded = _shade(values)
        img = rgb_image(shaded, lut("CET-L8"), (0.0, float(shaded.max())),
                        self.colors["background"])
        self.image.setImage(img, levels=(0, 255))
        x0, x1, y0, y1 = BOXES[function]
        dx, dy = xs[1] - xs[0], ys[1] - ys[0]
        self.image.setRect(QRectF(x0 - dx / 2, y0 - dy / 2, x1 - x0 + dx, y1 - y0 + dy))
        for line in self._lines:
            self.plot.removeItem(line)
        pen = pg.mkPen(self.colors["foreground"], width=1)
        pen.setCosmetic(True)
        self._lines = []
        for _, xy in contour_lines(function):
            line = pg.PlotDataItem(xy[:, 0], xy[:, 1], pen=pen, connect="finite")
            line.setOpacity(0.35)
            self.plot.addItem(line)
            self._lines.append(line)
        self.minimum.setData([MINIMA[function][0]], [MINIMA[function][1]])
        if function == "saddle":  # both of its minima
            self.minimum.setData([0.0, 0.0], [1.0, -1.0])
        self.plot.setXRange(x0, x1, padding=0)
        self.plot.setYRange(y0, y1, padding=0)

    def set_paths(self, paths: Sequence[tuple[str, np.ndarray]]) -> None:
        """Draw ``paths`` (``[(label, (K, 2))]``), the i-th in the i-th class colour, with
        the first path's start as a ring; reuses the line items it has."""
        self.paths = [(label, np.asarray(p, np.float64)) for label, p in paths]
        while len(self._runs) > len(self.paths):
            line, end = self._runs.pop()
            self.plot.removeItem(line)
            self.plot.removeItem(end)
        self.legend.clear()
        for i, (label, path) in enumerate(self.paths):
            color = CLASS_COLORS[i % len(CLASS_COLORS)]
            if i == len(self._runs):
                line = pg.PlotDataItem(pen=pg.mkPen(color, width=2), skipFiniteCheck=False)
                end = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(color),
                                         pen=pg.mkPen("k", width=1))
                for item in (line, end):
                    item.setZValue(10 + i)
                    self.plot.addItem(item)
                self._runs.append((line, end))
            line, end = self._runs[i]
            line.setPen(pg.mkPen(color, width=2))
            finite = path[np.isfinite(path).all(axis=1)] if len(path) else path
            line.setData(finite[:, 0], finite[:, 1]) if len(finite) else line.setData([], [])
            end.setData(finite[-1:, 0], finite[-1:, 1]) if len(finite) else end.setData([], [])
            if label:
                self.legend.addItem(line, label)
        first = self.paths[0][1] if self.paths else np.zeros((0, 2))
        self.start.setData(first[:1, 0], first[:1, 1]) if len(first) else \
            self.start.setData([], [])
        if len(self.paths) <= 1:
            self.legend.hide()
        else:
            self.legend.show()


class ContourView(ViewWidget):
    """The live session's path on its TestFunction's landscape, over the paths of the last
    race Compare Runs finished on this document (:meth:`show_race`; a new document clears
    them)."""

    title = "Contour"
    blurb = "An optimizer's path on the contour plot of a 2-D test function."

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.contour = ContourPlot(colors, self)
        self.set_content(self.contour)
        self.data: dict | None = None
        self._shown = None
        #: the last race's ``(function, [(label, path)])``, or None
        self.race: tuple[str, list] | None = None
        self.race_button = self._button("Race…", "Train ▸ Compare Runs…: race the six "
                                        "optimizers from the same start", self._on_race)
        self.layout().itemAt(0).layout().insertWidget(1, self.race_button)

    def _on_race(self) -> None:
        action = getattr(self.window(), "compare_action", None)
        if action is not None:
            action.trigger()

    def render(self, frame: Frame) -> str | None:
        land = frame.nodes.get("landscape")
        if land is None:
            return ("This view shows a TestFunction's landscape and the optimizer's path "
                    "on it, as in optimizers_race.")
        if land is self._shown:
            return None
        self._shown = land
        self.data = land
        self.contour.set_function(land["function"])
        race = self.race[1] if self.race and self.race[0] == land["function"] else []
        self.contour.set_paths([*race, ("this run" if race else "", land["path"])])
        path = np.asarray(land["path"], np.float64)
        x, y = path[-1] if len(path) else (np.nan, np.nan)
        mx, my = land["minimum"]
        self.set_caption(f"{land['function']}: ({x:.3f}, {y:.3f}) after {len(path) - 1:,} "
                         f"steps; minimum ({mx:g}, {my:g})", frame)
        return None

    def show_race(self, function: str, paths) -> None:
        """Draw a race's ``paths`` (``[(label, (K, 2))]`` on ``function``) under the live
        path from now on (Compare Runs calls it when a race ends)."""
        self.race = (function, list(paths))
        self._shown = None
        if self.frame is not None and self.frame.nodes.get("landscape") is not None:
            self._drawn = None
            self.show_frame(self.frame, force=True)
        else:  # no run yet: the race alone
            self.contour.set_function(function)
            self.contour.set_paths(self.race[1])
            self.stack.setCurrentWidget(self.contour)
            self.set_caption(f"{function}: the race of {len(self.race[1])} runs", Frame())

    def show_frame(self, frame, force: bool = False) -> None:
        if frame is None:  # a new document: the last race was another's
            self.race = None
        super().show_frame(frame, force)

    def set_colors(self, colors: dict) -> None:
        self.contour.setBackground(colors["background"])
        super().set_colors(colors)

    def csv_table(self):
        rows = []
        if self.data is not None:
            rows = [(i, float(x), float(y)) for i, (x, y) in enumerate(self.data["path"])]
        return ("step", "x", "y"), rows
