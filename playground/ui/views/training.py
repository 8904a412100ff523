"""Views of training over time: per-layer histograms as heatmaps (value bin x step), and
per-layer gradient norms and update/weight ratios on log scales.

Both read the timeline's entries (one every k steps; see ``playground.session.timeline``),
so their cost does not grow with the step rate, and scrubbing the timeline cuts them at
the scrubbed step.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..plots import DARK_PLOT, _style_plot
from .base import Frame, ViewWidget, lut

#: Value bins of the histogram heatmaps.
HEAT_BINS = 48
KINDS = ("activation", "gradient", "weight")


def rebin(hist, edges: np.ndarray) -> np.ndarray:
    """The fraction of ``hist``'s values (a Histogram with ``lo``, ``hi``, ``counts``)
    falling in each bin of ``edges`` (B+1,), assuming values spread evenly inside each of
    its own bins: the difference of its piecewise-linear CDF at ``edges``."""
    counts = np.asarray(hist.counts, np.float64)
    total = counts.sum()
    if total <= 0:
        return np.zeros(len(edges) - 1)
    own = np.linspace(hist.lo, hist.hi, len(counts) + 1)
    cdf = np.concatenate([[0.0], np.cumsum(counts) / total])
    return np.diff(np.interp(edges, own, cdf, left=0.0, right=1.0))


def heatmap(entries, node: str, kind: str, bins: int = HEAT_BINS
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The ``kind`` histograms of ``node`` over the ``entries`` as one image: returns
    ``(image (bins, T) of fractions, steps (T,), edges (bins+1,))`` on common value bins
    spanning every entry's range, or None when no entry has that histogram."""
    hists = [(e.step, e.histograms[node][kind]) for e in entries
             if node in e.histograms and kind in e.histograms[node]]
    if not hists:
        return None
    lo = min(h.lo for _, h in hists)
    hi = max(h.hi for _, h in hists)
    if hi <= lo:
        hi = lo + 1e-12
    edges = np.linspace(lo, hi, bins + 1)
    image = np.stack([rebin(h, edges) for _, h in hists], axis=1)
    return image, np.array([s for s, _ in hists], np.int64), edges


class HistogramView(ViewWidget):
    """Per-layer histograms of activations, gradients and weights of the selected node over
    time (heatmaps: x step, y value, colour the fraction of values), and the node's exact
    histograms now (counts over the whole view batch and all its parameters)."""

    title = "Histograms"
    blurb = ("Histograms of the selected layer's activations, gradients and weights over "
             "time.")

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.plots: dict[str, pg.PlotItem] = {}
        self.images: dict[str, pg.ImageItem] = {}
        self.table = lut("inferno")
        for i, kind in enumerate(KINDS):
            plot = self.layout_widget.addPlot(row=0, col=i)
            _style_plot(plot, f"{kind}s", colors, grid=False)
            image = pg.ImageItem(axisOrder="row-major")
            image.setLookupTable(self.table)
            plot.addItem(image)
            plot.setLabel("bottom", "step")
            self.plots[kind], self.images[kind] = plot, image
        self.now_plot = self.layout_widget.addPlot(row=0, col=3)
        _style_plot(self.now_plot, "now (exact counts)", colors)
        self.now_curves = {
            "activation": self.now_plot.plot(stepMode="center", pen=pg.mkPen("#4fa3ff", width=2),
                                             name="activation"),
            "weight": self.now_plot.plot(stepMode="center", pen=pg.mkPen("#ff9f43", width=2),
                                         name="weight")}
        self.now_plot.setLogMode(y=False)
        self.set_content(self.layout_widget)
        #: what is shown: {kind: (image, steps, edges)} and {kind: Counts}
        self.heat: dict[str, tuple | None] = {}
        self.now: dict = {}
        self.node: str | None = None
        self._key = None

    def render(self, frame: Frame) -> str | None:
        h = frame.nodes.get("histogram")
        if not h:
            return "No layer with parameters to show histograms of."
        node = h["node"]
        key = (node, frame.timeline[-1].step if frame.timeline else None, len(frame.timeline))
        self.node = node
        # the heatmaps change only with the timeline (every k steps); "now" every frame
        for kind in (KINDS if key != self._key else ()):
            got = heatmap(frame.timeline, node, kind)
            self.heat[kind] = got
            image = self.images[kind]
            if got is None:
                image.clear()
                continue
            img, steps, edges = got
            vmax = float(np.percentile(img, 99)) if img.size else 1.0
            image.setImage(img, levels=(0.0, max(vmax, 1e-6)), autoLevels=False)
            spacing = float(steps[1] - steps[0]) if len(steps) > 1 else 1.0
            image.setRect(pg.QtCore.QRectF(float(steps[0]) - spacing / 2, float(edges[0]),
                                           spacing * len(steps), float(edges[-1] - edges[0])))
        self._key = key
        self.now = {k: h[k] for k in ("activation", "weight") if k in h}
        for kind, curve in self.now_curves.items():
            c = self.now.get(kind)
            if c is None:
                curve.setData([], [])
            else:
                curve.setData(c.edges, c.counts / max(c.counts.sum(), 1))
        n = len(frame.timeline)
        self.set_caption(f"{self.name(node)}: {n} timeline step{'s' * (n != 1)}", frame)
        return None

    def csv_table(self):
        rows = []
        for kind in KINDS:
            got = self.heat.get(kind)
            if got is None:
                continue
            img, steps, edges = got
            for t, step in enumerate(steps):
                for b in range(len(edges) - 1):
                    rows.append((self.node, kind, int(step), edges[b], edges[b + 1],
                                 img[b, t], ""))
        step = self.frame.step if self.frame else 0
        for kind, c in self.now.items():
            e = c.edges
            for b, count in enumerate(c.counts):
                rows.append((self.node, f"{kind} now", step, e[b], e[b + 1], "", int(count)))
        return ("node", "kind", "step", "bin_lo", "bin_hi", "fraction", "count"), rows


#: A healthy update/weight ratio per step (Karpathy, "CS231n: Neural Networks Part 3").
HEALTHY_RATIO = 1e-3
LAYER_COLORS = ("#4fa3ff", "#ff9f43", "#4ec97b", "#e8575a", "#a97ee8", "#e6c84f",
                "#3cc8c8", "#e77fc0", "#b98a5e", "#9aa3b0")


class HealthView(ViewWidget):
    """Per-layer gradient norm ``||dL/dθ||`` and update/weight ratio ``||Δθ||/||θ||``
    against the step, on log scales; the selected layer is drawn thick."""

    title = "Gradient health"
    blurb = "Per-layer gradient norms and update/weight ratios over time, on log scales."

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.norm_plot = self.layout_widget.addPlot(row=0, col=0)
        self.ratio_plot = self.layout_widget.addPlot(row=0, col=1)
        for plot, title in ((self.norm_plot, "gradient norm ‖∂L/∂θ‖"),
                            (self.ratio_plot, "update / weight ‖Δθ‖/‖θ‖")):
            _style_plot(plot, title, colors)
            plot.setLogMode(y=True)
            plot.setLabel("bottom", "step")
        self.ratio_plot.setXLink(self.norm_plot)
        self.legend = self.ratio_plot.addLegend(offset=(-4, 4), labelTextSize="8pt",
                                                verSpacing=-8)
        self.ref = pg.InfiniteLine(pos=np.log10(HEALTHY_RATIO), angle=0,
                                   pen=pg.mkPen("#7d8594", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.ratio_plot.addItem(self.ref)
        self.set_content(self.layout_widget)
        self.curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self.series: dict[str, dict[str, np.ndarray]] = {}
        self.selected: str | None = None
        self._key = None

    def render(self, frame: Frame) -> str | None:
        entries = [e for e in frame.timeline if e.health is not None]
        if not entries:
            return ("Gradient norms appear after the first timeline step (one every k steps) "
                    "has been recorded.")
        layers = [n for n, h in entries[-1].health.nodes.items()
                  if h.param_grad_norm is not None]
        if not layers:
            return "No layer with parameters."
        selected = frame.nodes.get("focus")
        key = (entries[-1].step, len(entries), selected, tuple(layers))
        if key == self._key:
            return None
        self._key = key
        self.selected = selected
        if set(self.curves) != set(layers):
            for a, b in self.curves.values():
                self.norm_plot.removeItem(a)
                self.ratio_plot.removeItem(b)
            self.legend.clear()
            self.curves = {}
            for i, n in enumerate(layers):
                color = LAYER_COLORS[i % len(LAYER_COLORS)]
                a = self.norm_plot.plot(pen=pg.mkPen(color, width=1.5), antialias=False)
                b = self.ratio_plot.plot(pen=pg.mkPen(color, width=1.5), antialias=False,
                                         name=self.name(n))
                self.curves[n] = (a, b)
        steps = np.array([e.step for e in entries], np.float64)
        self.series = {}
        for i, n in enumerate(layers):
            norm = np.array([_get(e, n, "param_grad_norm") for e in entries])
            ratio = np.array([_get(e, n, "update_ratio") for e in entries])
            self.series[n] = {"step": steps, "grad_norm": norm, "update_ratio": ratio}
            a, b = self.curves[n]
            width = 3.5 if n == selected else 1.2
            color = LAYER_COLORS[i % len(LAYER_COLORS)]
            for item in (a, b):
                item.setPen(pg.mkPen(color, width=width))
                item.setZValue(10 if n == selected else 0)
            ok = np.isfinite(norm) & (norm > 0)
            a.setData(steps[ok], norm[ok])
            ok = np.isfinite(ratio) & (ratio > 0)
            b.setData(steps[ok], ratio[ok])
        sel = self.name(selected) if selected in self.series else "none selected"
        self.set_caption(f"{len(layers)} layers; thick: {sel}", frame)
        return None

    def csv_table(self):
        rows = []
        for n, s in self.series.items():
            for step, g, r in zip(s["step"], s["grad_norm"], s["update_ratio"]):
                rows.append((n, int(step), g, r))
        return ("node", "step", "grad_norm", "update_ratio"), rows


def _get(entry, node: str, attr: str) -> float:
    h = entry.health.nodes.get(node)
    v = getattr(h, attr, None) if h is not None else None
    return float(v) if v is not None else np.nan


__all__ = ["HealthView", "HistogramView", "heatmap", "rebin"]
