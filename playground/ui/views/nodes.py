"""Views of one node: conv feature maps and kernels, attention maps per head, and a PCA of
an embedding table with a token's nearest neighbours. Each shows the selected node when it
is of its kind, else the first node of its kind (the caption names the node)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..plots import DARK_PLOT, _style_plot
from .base import Frame, ViewWidget, image_plot, lut, normalise_each, rgb_image, tile


class FeatureMapView(ViewWidget):
    """A conv node's feature maps for one example (each map scaled to its own range) and
    its kernels (output channel per row, input channel per column; blue negative, red
    positive, one scale)."""

    title = "Feature maps"
    blurb = "Feature maps and kernels of the selected convolution."

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.maps_plot, self.maps_image = image_plot(self.layout_widget, "feature maps",
                                                     colors, row=0, col=0)
        self.kernel_plot, self.kernel_image = image_plot(self.layout_widget, "kernels",
                                                         colors, row=0, col=1)
        self.set_content(self.layout_widget)
        self.gray, self.diverging = lut("viridis"), lut("CET-D1")
        #: the raw arrays shown: maps (C, H, W) and kernels (O, I, kH, kW), or None
        self.maps: np.ndarray | None = None
        self.kernels: np.ndarray | None = None
        self.node: str | None = None
        self._shown = None

    def render(self, frame: Frame) -> str | None:
        conv = frame.nodes.get("conv")
        if not conv:
            return ("No convolution in this graph. Feature maps show for nodes with "
                    "(N, C, H, W) outputs, such as Conv2d.")
        if conv is self._shown:
            self.set_caption(self.caption_text(conv), frame)
            return None
        self._shown = conv
        self.node = conv["node"]
        bg = self.colors["background"]
        self.maps = None if conv["maps"] is None else np.asarray(conv["maps"], np.float32)
        self.kernels = None if conv["kernels"] is None else \
            np.asarray(conv["kernels"], np.float32)
        if self.maps is not None:
            grid = tile(normalise_each(self.maps))
            self.maps_image.setImage(rgb_image(grid, self.gray, (0, 1), bg), levels=(0, 255))
        else:
            self.maps_image.clear()
        if self.kernels is not None:
            o, i, kh, kw = self.kernels.shape
            flat = self.kernels.reshape(o * i, kh, kw)
            # one input channel: a square grid; else a row per output, a column per input
            grid = tile(flat, cols=None if i == 1 else i)
            m = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
            self.kernel_image.setImage(rgb_image(grid, self.diverging, (-m, m), bg),
                                       levels=(0, 255))
            self.kernel_plot.setTitle(f"<span style='color:{self.colors['foreground']};"
                                      f"font-size:9pt'>kernels ({o} out × {i} in)</span>")
        else:
            self.kernel_image.clear()
        self.set_caption(self.caption_text(conv), frame)
        return None

    def caption_text(self, conv) -> str:
        shown = 0 if self.maps is None else len(self.maps)
        return (f"{self.name(conv['node'])}: {shown} of {conv['channels']} maps "
                f"(first held-out example)")

    def csv_table(self):
        rows = []
        if self.maps is not None:
            for c, r, col in np.ndindex(*self.maps.shape):
                rows.append(("map", c, "", r, col, self.maps[c, r, col]))
        if self.kernels is not None:
            for o, i, r, col in np.ndindex(*self.kernels.shape):
                rows.append(("kernel", o, i, r, col, self.kernels[o, i, r, col]))
        return ("kind", "channel", "in_channel", "row", "col", "value"), rows


class AttentionView(ViewWidget):
    """Attention weights per head for one example: queries on the rows, keys on the
    columns, the tokens on the axes."""

    title = "Attention"
    blurb = "Attention maps per head (query × key) of the selected attention node."
    MAX_HEADS = 8

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.set_content(self.layout_widget)
        self.table = lut("viridis")
        self.heads: list[tuple[pg.PlotItem, pg.ImageItem]] = []
        self.weights: np.ndarray | None = None
        self.query_tokens: tuple = ()
        self.key_tokens: tuple = ()
        self.node: str | None = None
        self._shown = None

    def _ensure_heads(self, n: int) -> None:
        if len(self.heads) == n:
            return
        self.layout_widget.clear()
        self.heads = []
        cols = min(n, 4)
        for h in range(n):
            plot, image = image_plot(self.layout_widget, f"head {h + 1}", self.colors,
                                     row=h // cols, col=h % cols, axes=True)
            image.setLookupTable(self.table)
            plot.setLabel("left", "query")
            plot.setLabel("bottom", "key")
            self.heads.append((plot, image))

    def render(self, frame: Frame) -> str | None:
        att = frame.nodes.get("attention")
        if not att:
            return ("No attention node in this graph. Attention maps show for "
                    "MultiheadAttention nodes.")
        if att is self._shown:
            return None
        self._shown = att
        self.node = att["node"]
        w = np.asarray(att["weights"], np.float32)
        self.weights = w
        self.query_tokens, self.key_tokens = att["query_tokens"], att["key_tokens"]
        n = min(len(w), self.MAX_HEADS)
        self._ensure_heads(n)
        q_ticks = [[(i + 0.5, t) for i, t in enumerate(self.query_tokens)]]
        k_ticks = [[(i + 0.5, t) for i, t in enumerate(self.key_tokens)]]
        for h, (plot, image) in enumerate(self.heads):
            image.setImage(w[h], levels=(0.0, 1.0), autoLevels=False)
            plot.getAxis("left").setTicks(q_ticks)
            plot.getAxis("bottom").setTicks(k_ticks)
        self.set_caption(f"{self.name(self.node)}: {len(w)} head{'s' * (len(w) != 1)}, "
                         f"{w.shape[1]} queries × {w.shape[2]} keys (first held-out example)",
                         frame)
        return None

    def csv_table(self):
        rows = []
        if self.weights is not None:
            for h, q, k in np.ndindex(*self.weights.shape):
                rows.append((h, q, self.query_tokens[q], k, self.key_tokens[k],
                             self.weights[h, q, k]))
        return ("head", "query", "query_token", "key", "key_token", "weight"), rows


class EmbeddingView(ViewWidget):
    """The rows of an embedding table projected on their first two principal components,
    with the nearest neighbours (cosine similarity in the full space) of a chosen token."""

    title = "Embeddings"
    blurb = "A 2-D PCA of the selected embedding table, with a token's nearest neighbours."
    MAX_LABELS = 100

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        box = QWidget(self)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Token", box))
        self.token_combo = QComboBox(box)
        self.token_combo.currentIndexChanged.connect(self._on_token_changed)
        row.addWidget(self.token_combo)
        self.neighbour_label = QLabel("", box)
        # (cut at the dock's edge rather than widening the dock: see ViewWidget.caption)
        self.neighbour_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                           QSizePolicy.Policy.Preferred)
        row.addWidget(self.neighbour_label, 1)
        lay.addLayout(row)
        self.plot_widget = pg.PlotWidget(box, background=colors["background"])
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        _style_plot(self.plot, "", colors)
        self.plot.setLabel("bottom", "PC 1")
        self.plot.setLabel("left", "PC 2")
        self.lines = pg.PlotDataItem(pen=pg.mkPen("#ff9f43", width=1.5), connect="pairs")
        self.plot.addItem(self.lines)
        self.scatter = pg.ScatterPlotItem(size=9, pen=pg.mkPen(colors["point_pen"], width=0.6))
        self.plot.addItem(self.scatter)
        lay.addWidget(self.plot_widget, 1)
        self.set_content(box)
        self.labels: list[pg.TextItem] = []
        self.data: dict | None = None
        self.token = 0
        self._shown = None

    def render(self, frame: Frame) -> str | None:
        emb = frame.nodes.get("embedding")
        if not emb:
            return "No Embedding node in this graph."
        if emb is self._shown:
            return None
        self._shown = emb
        self.data = emb
        names = list(emb["labels"])
        if [self.token_combo.itemText(i) for i in range(self.token_combo.count())] != names:
            blocked = self.token_combo.blockSignals(True)
            self.token_combo.clear()
            self.token_combo.addItems(names)
            self.token = min(self.token, len(names) - 1)
            if names[self.token] == "<unk>" and len(names) > 1:  # an untrained row: the next
                self.token = (self.token + 1) % len(names)
            self.token_combo.setCurrentIndex(self.token)
            self.token_combo.blockSignals(blocked)
            for item in self.labels:
                self.plot.removeItem(item)
            self.labels = []
            for name in names[:self.MAX_LABELS]:
                t = pg.TextItem(name, color=self.colors["foreground"], anchor=(-0.3, 0.5))
                self.plot.addItem(t)
                self.labels.append(t)
        coords = np.asarray(emb["coords"], np.float64)
        for i, t in enumerate(self.labels):
            t.setPos(*coords[i])
        ex = emb["explained"]
        self.set_caption(f"{self.name(emb['node'])}: {len(coords)} tokens; PCs explain "
                         f"{ex[0]:.0%} and {ex[1]:.0%} of the variance", frame)
        self._draw_points()
        return None

    def neighbours(self, token: int) -> list[tuple[int, float]]:
        """The chosen token's nearest neighbours now shown: [(row, cosine similarity)]."""
        if self.data is None or self.data["neighbours"] is None:
            return []
        return [(int(j), float(s)) for j, s in zip(self.data["neighbours"][token],
                                                   self.data["similarity"][token])]

    def _draw_points(self) -> None:
        if self.data is None:
            return
        coords = np.asarray(self.data["coords"], np.float64)
        near = self.neighbours(self.token)
        brushes = [pg.mkBrush("#4fa3ff")] * len(coords)
        for j, _ in near:
            brushes[j] = pg.mkBrush("#ff9f43")
        if len(coords):
            brushes[self.token] = pg.mkBrush("#e8575a")
        self.scatter.setData(pos=coords, brush=brushes)
        if near:
            pairs = np.array([[coords[self.token], coords[j]] for j, _ in near]).reshape(-1, 2)
            self.lines.setData(pairs[:, 0], pairs[:, 1])
        else:
            self.lines.setData([], [])
        labels = self.data["labels"]
        text = ", ".join(f"{labels[j]} ({s:.2f})" for j, s in near) if near else \
            "(table too large for neighbours)"
        self.neighbour_label.setText(f"nearest: {text}")
        self.neighbour_label.setToolTip(f"nearest: {text}")

    def _on_token_changed(self, index: int) -> None:
        if index >= 0:
            self.token = index
            self._draw_points()

    def csv_table(self):
        rows = []
        if self.data is not None:
            labels = self.data["labels"]
            for i, (x, y) in enumerate(np.asarray(self.data["coords"])):
                near = self.neighbours(i)
                rows.append((i, labels[i], x, y, " ".join(labels[j] for j, _ in near)))
        return ("row", "token", "pc1", "pc2", "nearest"), rows


__all__ = ["AttentionView", "EmbeddingView", "FeatureMapView"]
