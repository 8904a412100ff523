"""The Layers view: signal propagation through depth, one curve per net.

Three plots against the layer index (1 = nearest the input), from the snapshot's
``"layers"`` view (computed on the worker, see ``playground.session.layer_stats``):

* activation std of each layer's activation (log axis: a signal that shrinks or explodes
  geometrically is a straight line);
* gradient norm ``||dL/dW||`` of each layer's weight (log axis: the vanishing gradient);
* saturated %: sigmoid/tanh values within 1% of a bound, ReLU values at 0.

A graph with several nets side by side (one loss each) gets one curve per net, named after
its loss node; the curves are made once and fed with ``setData``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from playground.session.layer_stats import MIN_LAYERS

from ..plots import CLASS_COLORS, DARK_PLOT, _style_plot
from .base import Frame, ViewWidget

#: The three plots: (key of LayerGroup, title, log y axis).
PLOTS = (("act_std", "activation std", True), ("grad_norm", "gradient norm ‖∂L/∂W‖", True),
         ("saturated", "saturated %", False))


def _log_safe(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: non-positive and non-finite ones become NaN (a gap)."""
    v = np.asarray(values, np.float64).copy()
    v[~np.isfinite(v) | (v <= 0)] = np.nan
    return v


class LayersView(ViewWidget):
    """Per-layer activation std, gradient norm and saturation of every net in the graph."""

    title = "Layers"
    blurb = ("Per layer, from input to output: the spread of the activations, the size of "
             "the weight gradients and the share of saturated units, one curve per net. "
             "Shown for graphs with 8 or more layers.")

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.plots: dict[str, pg.PlotItem] = {}
        #: the nets' names in their curves' colours (a legend that covers no curve)
        self.key = self.layout_widget.addLabel("", row=0, col=0, colspan=len(PLOTS))
        for i, (key, title, log) in enumerate(PLOTS):
            plot = self.layout_widget.addPlot(row=1, col=i)
            _style_plot(plot, title, colors)
            plot.setLabel("bottom", "layer")
            if log:
                plot.setLogMode(y=True)
            self.plots[key] = plot
        #: ``{net name: {plot key: PlotDataItem}}``, made the first time a net appears
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        self.colors_of: dict[str, str] = {}
        self.groups: list = []
        self.set_content(self.layout_widget)

    @staticmethod
    def applies(model) -> bool:
        """Before the first frame: whether ``model`` looks deep enough for this view (its
        top-level layers with weights; the first frame corrects the guess)."""
        kinds = ("Linear", "Conv2d", "ConvTranspose2d")
        return sum(model.spec(n).type in kinds for n in model.nodes()) >= MIN_LAYERS

    def _curves_for(self, name: str) -> dict[str, pg.PlotDataItem]:
        if name not in self.curves:
            color = CLASS_COLORS[len(self.curves) % len(CLASS_COLORS)]
            pen = pg.mkPen(color, width=2)
            self.curves[name] = {
                key: self.plots[key].plot(pen=pen, symbol="o", symbolSize=5, symbolPen=pen,
                                          symbolBrush=color)
                for key, _, _ in PLOTS}
            self.colors_of[name] = color
        return self.curves[name]

    def render(self, frame: Frame) -> str | None:
        data = frame.views.get("layers") or frame.nodes.get("layers")
        if not data or not data.get("groups"):
            return ("No layers to show: this view is for deep nets, graphs with 8 or more "
                    "layers with weights (Linear, Conv2d...) and a loss.")
        self.groups = list(data["groups"])
        seen = set()
        for g in self.groups:
            name = g.name or "layers"
            seen.add(name)
            curves = self._curves_for(name)
            x = np.arange(1, len(g.nodes) + 1, dtype=np.float64)
            curves["act_std"].setData(x, _log_safe(g.act_std), connect="finite")
            curves["grad_norm"].setData(x, _log_safe(g.grad_norm), connect="finite")
            curves["saturated"].setData(x, 100.0 * np.asarray(g.saturated, np.float64),
                                        connect="finite")
        for name, curves in self.curves.items():  # nets no longer in the graph: empty
            if name not in seen:
                for c in curves.values():
                    c.setData([], [])
        self.key.setText("&nbsp;&nbsp;&nbsp;".join(
            f"<span style='color:{self.colors_of[g.name or 'layers']}'>● {g.name or 'layers'}"
            "</span>" for g in self.groups), size="9pt")
        first, last = self.groups[0].grad_norm[0], self.groups[0].grad_norm[-1]
        ratio = f", layer 1 gets {first / last:.1e} of the last layer's gradient" \
            if np.isfinite(first) and np.isfinite(last) and last > 0 else ""
        self.set_caption(f"step {frame.step:,}: {len(self.groups)} net"
                         f"{'s' if len(self.groups) != 1 else ''}, "
                         f"{self.groups[0].name or 'net'}{ratio}", frame)
        return None

    def csv_table(self):
        header = ("net", "layer", "node", "activation", "act_std", "act_mean", "saturated",
                  "grad_norm")
        rows = [(g.name, i + 1, g.nodes[i], g.activation[i], float(g.act_std[i]),
                 float(g.act_mean[i]), float(g.saturated[i]), float(g.grad_norm[i]))
                for g in self.groups for i in range(len(g.nodes))]
        return header, rows

    def set_colors(self, colors: dict) -> None:
        self.layout_widget.setBackground(colors["background"])
        for key, title, _ in PLOTS:
            _style_plot(self.plots[key], title, colors)
        super().set_colors(colors)
