"""Live plots: loss and accuracy curves, and the decision boundary of 2-D classifiers.

As in pyqtgraph's ``scrollingPlots`` example, every plot item is made once; the window's
timer calls :meth:`CurvesWidget.update_from` / :meth:`BoundaryWidget.update_from` with the
newest :class:`~playground.session.Snapshot` and they only call ``setData``/``setImage``.
Curves downsample and clip to the view, so long runs stay cheap.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QHBoxLayout, QWidget

from playground.graph import dataset_of

#: Class colours: orange and blue first (TensorFlow Playground's pair), then more.
CLASS_COLORS = ("#f59322", "#2f8fdd", "#4ec97b", "#e8575a", "#a97ee8", "#e6c84f",
                "#3cc8c8", "#e77fc0", "#b98a5e", "#9aa3b0")

TRAIN_COLOR = "#4fa3ff"
VAL_COLOR = "#ff9f43"

DARK_PLOT = {"background": "#1b1e24", "foreground": "#aab2c0", "raw_mix": 0.4,
             "grid_line": "#3a3f4a", "grid_major": "#2a2d34",
             "mid": "#23272f", "point_pen": "#e9ecf1"}
LIGHT_PLOT = {"background": "#ffffff", "foreground": "#3b4250",
              "grid_line": "#c9ced6", "grid_major": "#e9ecf0",
              "mid": "#f4f5f7", "point_pen": "#ffffff", "raw_mix": 0.35}


def _rgb(color: str) -> np.ndarray:
    c = QColor(color)
    return np.array([c.red(), c.green(), c.blue()], dtype=np.float32)


def blend(color: str, background: str, amount: float) -> QColor:
    """An opaque ``amount`` of ``color`` over ``background`` (opaque lines paint faster
    than translucent ones)."""
    mixed = amount * _rgb(color) + (1.0 - amount) * _rgb(background)
    return QColor(*(int(round(v)) for v in mixed))


def class_color(index: int) -> str:
    return CLASS_COLORS[index % len(CLASS_COLORS)]


def boundary_image(probs: np.ndarray, mid: str = DARK_PLOT["mid"],
                   strength: float = 0.62) -> np.ndarray:
    """RGB image (H, W, 3) uint8 of class probabilities ``probs`` (H, W, C).

    Two classes: a diverging orange (class 0) to blue (class 1) map through ``mid`` at
    p = 0.5, like TensorFlow Playground. More classes: the class colours weighted by
    probability, faded towards ``mid`` as the prediction gets less certain.
    """
    probs = np.asarray(probs, dtype=np.float32)
    mid_rgb = _rgb(mid)
    n_classes = probs.shape[-1]
    if n_classes == 2:
        t = 2.0 * probs[..., 1:2] - 1.0                    # -1 (class 0) .. 1 (class 1)
        a = np.abs(t) * strength
        target = np.where(t >= 0, _rgb(class_color(1)), _rgb(class_color(0)))
        img = mid_rgb + a * (target - mid_rgb)
    else:
        colors = np.stack([_rgb(class_color(c)) for c in range(n_classes)])
        mixed = probs @ colors                              # (H, W, 3)
        conf = (probs.max(axis=-1, keepdims=True) - 1.0 / n_classes) / (1.0 - 1.0 / n_classes)
        img = mid_rgb + np.clip(conf, 0, 1) * strength * (mixed - mid_rgb)
    return np.clip(img, 0, 255).astype(np.uint8)


#: Most points a curve is given; longer histories are decimated (min/max per bin) first.
MAX_CURVE_POINTS = 1000


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS
             ) -> tuple[np.ndarray, np.ndarray]:
    """Peak-preserving decimation: at most ``max_points`` (x, y) pairs, keeping each bin's
    min and max so that spikes stay visible. Shorter inputs come back unchanged.

    Painting costs grow with the points given, and the UI thread's time is taken from the
    training thread (one interpreter lock), so long runs are drawn from ~1,000 points.
    """
    n = len(y)
    if n <= max_points:
        return x, y
    bins = max_points // 2
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    starts = edges[:-1]
    finite = np.where(np.isfinite(y), y, np.nan)
    lo = np.fmin.reduceat(finite, starts)
    hi = np.fmax.reduceat(finite, starts)
    xs = np.repeat(x[starts], 2)
    ys = np.empty(2 * bins)
    ys[0::2], ys[1::2] = lo, hi
    return xs, ys


def moving_average(values: np.ndarray, window: int | None = None) -> np.ndarray:
    """Trailing mean over ``window`` points (by default ~2% of the run, 1 to 50), the same
    length as ``values``; the first points average what there is."""
    n = len(values)
    if n == 0:
        return values
    w = window or int(min(50, max(1, n // 50)))
    finite = np.where(np.isfinite(values), values, 0.0)
    c = np.concatenate([[0.0], np.cumsum(finite)])
    idx = np.arange(1, n + 1)
    lo = np.maximum(0, idx - w)
    return (c[idx] - c[lo]) / (idx - lo)


def _style_plot(plot: pg.PlotItem, title: str, colors: dict, grid: bool = True) -> None:
    if title:
        plot.setTitle(f"<span style='color:{colors['foreground']}; font-size:9pt'>{title}</span>")
    # Opaque grid lines at the major ticks only: translucent ones cost ~4x the paint time.
    plot.showGrid(x=grid, y=grid, alpha=1.0)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(colors["foreground"]))
        axis.setTextPen(pg.mkPen(colors["foreground"]))
        if grid:
            axis.setTickPen(pg.mkPen(colors["grid_major"]))
            axis.setStyle(tickAlpha=255, maxTickLevel=0)
            axis.setZValue(-100)  # grid lines under the curves and the legend
    plot.getViewBox().setMenuEnabled(False)
    plot.hideButtons()


#: What the right-hand panel plots, by the metrics a recipe records: its title, the
#: metric in the train slot and in the held-out slot, their legend labels, and a fixed
#: y range (or None to fit). The first whose train metric is in the history wins.
SECOND_PANELS = (
    ("Perplexity", "perplexity", "val_perplexity", ("train", "held-out"), None),
    ("Accuracy", "accuracy", "val_accuracy", ("train", "held-out"), (0.0, 1.02)),
    ("Discriminator: D(G(z)) and D(real)", "d_fake", "d_real", ("D(G(z))", "D(real)"),
     (0.0, 1.02)),
    ("KL divergence", "kl", "val_kl", ("train", "held-out"), None),
)
#: The right-hand panel before any metric is recorded, and when none of the above is.
DEFAULT_SECOND_PANEL = next(p for p in SECOND_PANELS if p[1] == "accuracy")


#: What the left-hand (loss) panel plots, in the same form: a GAN's two players each have
#: their own loss (``loss`` is their sum), a classifier or a VAE its train and held-out loss.
LOSS_PANELS = (
    ("Losses: discriminator and generator", "d_loss", "g_loss", ("D loss", "G loss"), None),
    ("Loss", "loss", "val_loss", ("train", "held-out"), None),
)


class CurvesWidget(QWidget):
    """A loss panel chosen by the recipe's metrics (:data:`LOSS_PANELS`: train and held-out
    loss, or a GAN's D and G losses) beside a second panel (:data:`SECOND_PANELS`): accuracy
    for a classifier, the discriminator's mean outputs for a GAN, the KL term for a VAE.
    A run that records none of those metrics shows the loss panel alone."""

    def __init__(self, parent=None, colors: dict = DARK_PLOT):
        super().__init__(parent)
        self._colors = colors
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        self.loss_widget = pg.PlotWidget(self, background=colors["background"])
        self.acc_widget = pg.PlotWidget(self, background=colors["background"])
        lay.addWidget(self.loss_widget)
        lay.addWidget(self.acc_widget)
        self.loss_plot: pg.PlotItem = self.loss_widget.getPlotItem()
        self.acc_plot: pg.PlotItem = self.acc_widget.getPlotItem()
        self.acc_plot.setYRange(0.0, 1.02, padding=0)
        self.acc_plot.enableAutoRange(axis="y", enable=False)
        self.acc_plot.setXLink(self.loss_plot)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.smoothed: dict[str, pg.PlotDataItem] = {}
        self.legends = [
            plot.addLegend(offset=(-6, 6) if plot is self.loss_plot else (-6, -6),
                           labelTextSize="8pt", verSpacing=-6)
            for plot in (self.loss_plot, self.acc_plot)]
        raw = blend(TRAIN_COLOR, colors["background"], colors["raw_mix"])
        for key, plot, label, pen in (
                ("loss", self.loss_plot, None, pg.mkPen(raw, width=1)),
                ("val_loss", self.loss_plot, "held-out", pg.mkPen(VAL_COLOR, width=2)),
                ("accuracy", self.acc_plot, None, pg.mkPen(raw, width=1)),
                ("val_accuracy", self.acc_plot, "held-out", pg.mkPen(VAL_COLOR, width=2))):
            self.curves[key] = self._curve(plot, label, pen)
            if key in ("loss", "accuracy"):  # a moving average over the noisy batches
                self.smoothed[key] = self._curve(plot, "train",
                                                 pg.mkPen(TRAIN_COLOR, width=2))
        self._panel = DEFAULT_SECOND_PANEL
        self._loss_panel = LOSS_PANELS[-1]
        self.set_colors(colors)
        self._last_steps: dict[str, int] = {}
        self._history: dict = {}

    @staticmethod
    def _curve(plot: pg.PlotItem, name: str | None, pen) -> pg.PlotDataItem:
        # No antialiasing and no symbols: each costs more paint time than the training
        # thread can spare (the UI and the worker share one interpreter lock).
        curve = plot.plot(name=name, pen=pen, skipFiniteCheck=True, antialias=False)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        return curve

    def set_colors(self, colors: dict) -> None:
        self._colors = colors
        for widget, title in ((self.loss_widget, self._loss_panel[0]),
                              (self.acc_widget, self._panel[0])):
            widget.setBackground(colors["background"])
            _style_plot(widget.getPlotItem(), title, colors)
        raw_pen = pg.mkPen(blend(TRAIN_COLOR, colors["background"], colors["raw_mix"]), width=1)
        for key in self.smoothed:
            self.curves[key].setPen(raw_pen)
        legend_bg = QColor(colors["background"])
        legend_bg.setAlpha(235)
        for legend in self.legends:
            legend.setBrush(pg.mkBrush(legend_bg))
            legend.setPen(pg.mkPen(colors["grid_line"]))
            legend.setLabelTextColor(colors["foreground"])
            for _, label in legend.items:  # setLabelTextColor does not re-render old labels
                label.setText(label.text)

    def update_from(self, snapshot) -> None:
        """Show ``snapshot.history``; curves are only fed new arrays (``setData``)."""
        history = snapshot.history if snapshot is not None else {}
        self._history = history
        self._choose_panel(history)
        _, train_key, val_key = self._panel[:3]
        _, loss_key, val_loss_key = self._loss_panel[:3]
        source = {"loss": loss_key, "val_loss": val_loss_key,
                  "accuracy": train_key, "val_accuracy": val_key}
        for key, curve in self.curves.items():
            steps, values = history.get(source.get(key, key), (np.zeros(0), np.zeros(0)))
            steps = np.asarray(steps, dtype=np.float64)
            values = np.asarray(values, dtype=np.float64)
            curve.setData(*decimate(steps, values))
            if key in self.smoothed:
                smooth = moving_average(values)
                stride = max(1, len(smooth) // MAX_CURVE_POINTS)
                self.smoothed[key].setData(steps[::stride], smooth[::stride])

    def _choose_panel(self, history) -> None:
        loss_panel = next((p for p in LOSS_PANELS if p[1] in history), LOSS_PANELS[-1])
        if loss_panel is not self._loss_panel:
            self._loss_panel = loss_panel
            self._label_panel(self.loss_plot, self.legends[0], loss_panel)
        panel = next((p for p in SECOND_PANELS if p[1] in history), None)
        # a run that records none of them (a regression, a test function, an autoencoder)
        # gives the loss the whole width instead of an empty panel
        self.acc_widget.setVisible(panel is not None or not history)
        panel = panel or DEFAULT_SECOND_PANEL
        if panel is not self._panel:
            self._panel = panel
            self._label_panel(self.acc_plot, self.legends[1], panel)

    def _label_panel(self, plot: pg.PlotItem, legend, panel) -> None:
        title, _, _, labels, y_range = panel
        _style_plot(plot, title, self._colors)
        for (_, label), text in zip(legend.items, labels):
            label.setText(text)
        if y_range is None:
            plot.enableAutoRange(axis="y", enable=True)
        else:
            plot.enableAutoRange(axis="y", enable=False)
            plot.setYRange(*y_range, padding=0)

    @property
    def loss_title(self) -> str:
        """The left-hand panel's title (see :data:`LOSS_PANELS`)."""
        return self._loss_panel[0]

    @property
    def second_shown(self) -> bool:
        """Whether the right-hand panel is shown (not when the run records none of its
        metrics)."""
        return not self.acc_widget.isHidden()

    @property
    def second_title(self) -> str:
        """The right-hand panel's title (see :data:`SECOND_PANELS`)."""
        return self._panel[0]

    def legend_labels(self) -> tuple[list[str], list[str]]:
        """The legend texts of the loss panel and of the second panel, in order."""
        return tuple([label.text for _, label in legend.items] for legend in self.legends)

    def csv_table(self):
        """``(header, rows)``: every recorded value of the shown metrics, ``(metric, step,
        value)`` (the full history, not the decimated curve)."""
        rows = []
        _, train_key, val_key = self._panel[:3]
        keys = dict.fromkeys(("loss", *self._loss_panel[1:3], train_key, val_key))
        for key in keys:
            steps, values = self._history.get(key, ((), ()))
            rows.extend((key, int(s), float(v)) for s, v in zip(steps, values))
        return ("metric", "step", "value"), rows

    def data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) arrays last given to a curve (``loss``, ``val_loss``, ``accuracy``,
        ``val_accuracy``: each panel's train and held-out slots, whatever metric it shows,
        e.g. a GAN's D and G losses in the first two), before downsampling and clipping to
        the view."""
        x, y = self.curves[key].getOriginalDataset()
        return (np.zeros(0) if x is None else x), (np.zeros(0) if y is None else y)


class BoundaryWidget(pg.PlotWidget):
    """A 2-D classifier's class-probability grid with the training points on top."""

    def __init__(self, parent=None, colors: dict = DARK_PLOT):
        super().__init__(parent, background=colors["background"])
        self._colors = colors
        self.plot_item: pg.PlotItem = self.getPlotItem()
        self.plot_item.setAspectLocked(True)
        # Bilinear filtering when the (coarse) probability grid is scaled up to the view.
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.plot_item.addItem(self.image)
        self.scatter = pg.ScatterPlotItem(size=6, pxMode=True)
        self.plot_item.addItem(self.scatter)
        self.note = pg.TextItem("", color=colors["foreground"], anchor=(0.5, 0.5))
        self.plot_item.addItem(self.note)
        self._points = np.zeros((0, 2), np.float32)
        self._labels = np.zeros(0, np.int64)
        self._probs: np.ndarray | None = None
        self._rect: tuple | None = None
        self._boundary = None
        self._view_range = ((-1.0, 1.0), (-1.0, 1.0))
        self.set_colors(colors)

    def set_colors(self, colors: dict) -> None:
        self._colors = colors
        self.setBackground(colors["background"])
        _style_plot(self.plot_item, "", colors, grid=False)
        self.plot_item.setTitle(None)
        self.note.setColor(colors["foreground"])
        self._apply_points()
        if self._probs is not None:
            self.image.setImage(boundary_image(self._probs, colors["mid"]), levels=(0, 255))

    def set_points(self, points: np.ndarray | None, labels: np.ndarray | None) -> None:
        """The training points (N, 2) and their classes (N,); None for a non-2-D dataset."""
        if points is None or points.ndim != 2 or points.shape[1] != 2:
            self._points = np.zeros((0, 2), np.float32)
            self._labels = np.zeros(0, np.int64)
            self.image.clear()
            self._probs = None
            self._boundary = None
            self.note.setText("The decision boundary is drawn for 2-D datasets.")
            for axis in ("left", "bottom"):
                self.plot_item.hideAxis(axis)
            self.note.setPos(0, 0)
            self._view_range = ((-1.0, 1.0), (-1.0, 1.0))
            self._fit_view()
            self._apply_points()
            return
        self.note.setText("")
        for axis in ("left", "bottom"):
            self.plot_item.showAxis(axis)
        self._points = np.asarray(points, np.float32)
        self._labels = np.asarray(labels, np.int64)
        lo = self._points.min(axis=0).astype(float)
        hi = self._points.max(axis=0).astype(float)
        pad = 0.1 * (hi - lo)
        # Python floats: pyqtgraph compares the range with float64 limits.
        self._view_range = ((float(lo[0] - pad[0]), float(hi[0] + pad[0])),
                            (float(lo[1] - pad[1]), float(hi[1] + pad[1])))
        self._fit_view()
        self._apply_points()

    def show_dataset(self, params: dict | None) -> None:
        """The training points of a Dataset node with ``params`` (None: no Dataset), and
        no boundary until the next snapshot."""
        ds = None
        if params is not None:
            try:
                ds = dataset_of(params)
            except Exception:  # a bad param: the Dataset node says what is wrong
                ds = None
        if ds is not None and ds.feature_shape == (2,):
            self.set_points(ds.train.input, ds.train.target)
        else:
            self.set_points(None, None)
        self.clear_boundary()

    def _fit_view(self) -> None:
        if "_view_range" not in self.__dict__ or "plot_item" not in self.__dict__:
            return  # pyqtgraph calls resizeEvent from its constructor
        (x0, x1), (y0, y1) = self._view_range
        self.plot_item.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def resizeEvent(self, event) -> None:  # Qt override: keep the data in view
        super().resizeEvent(event)
        self._fit_view()

    def _apply_points(self) -> None:
        n_classes = int(self._labels.max(initial=-1)) + 1
        brushes = [pg.mkBrush(class_color(c)) for c in range(n_classes)]
        self.scatter.setData(
            pos=self._points, brush=[brushes[c] for c in self._labels],
            pen=pg.mkPen(self._colors["point_pen"], width=0.8))

    def update_from(self, snapshot) -> None:
        """Show ``snapshot.boundary`` (if it changed); clears the image when there is none."""
        boundary = getattr(snapshot, "boundary", None)
        if boundary is self._boundary:
            return
        self._boundary = boundary
        if boundary is None:
            self.image.clear()
            self._probs = None
            return
        self._probs = np.asarray(boundary.probs)
        self.image.setImage(boundary_image(self._probs, self._colors["mid"]), levels=(0, 255))
        (x0, x1), (y0, y1) = boundary.x_range, boundary.y_range
        # setRect scales by the image's size in pixels: a new grid size (the timeline's
        # entries are coarser than the live grid) needs it again, even over the same range
        rect = (x0, y0, x1 - x0, y1 - y0, self._probs.shape[:2])
        if rect != self._rect:
            self._rect = rect
            self.image.setRect(QRectF(*rect[:4]))

    def csv_table(self):
        """``(header, rows)``: the class probabilities at each grid point ``(x, y, p_0..)``
        and the training points ``(x, y, label)``."""
        rows = []
        if self._boundary is not None:
            probs = np.asarray(self._boundary.probs)
            h, w, c = probs.shape
            xs = np.linspace(*self._boundary.x_range, w)
            ys = np.linspace(*self._boundary.y_range, h)
            for r in range(h):
                for col in range(w):
                    rows.append(("grid", xs[col], ys[r], "", *probs[r, col]))
        for (x, y), label in zip(self._points, self._labels):
            rows.append(("point", x, y, int(label)))
        n = 0 if self._boundary is None else np.asarray(self._boundary.probs).shape[-1]
        return ("kind", "x", "y", "label", *(f"p_{k}" for k in range(n))), rows

    def clear_boundary(self) -> None:
        self._boundary = None
        self._probs = None
        self.image.clear()

    def image_array(self) -> np.ndarray | None:
        """The RGB image now shown (H, W, 3), or None."""
        return self.image.image

    def point_count(self) -> int:
        return len(self._points)


__all__ = ["BoundaryWidget", "CLASS_COLORS", "CurvesWidget", "DARK_PLOT", "LIGHT_PLOT",
           "boundary_image", "class_color", "moving_average"]
