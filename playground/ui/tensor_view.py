"""A viewer for one tensor, chosen by its shape.

- a scalar (0-d): the number, large;
- a small tensor (at most ``TABLE_MAX`` values): a table of the numbers;
- 1-D and 2-D: a heatmap (rows × columns) with a colour bar; the value under the cursor is
  written below it;
- 3-D ``(N, L, E)``, a sequence: one example at a time (a spin box picks it), one row per
  position ``l`` and one column per feature ``e``;
- 4-D ``(N, C, H, W)``, images: a grid with one row per example and one column per channel
  (the first ``GRID_MAX`` of each);
- more dims: ``(d0, d1*d2*...)`` as a heatmap.

Signed data is drawn with a diverging map centred on 0 (blue below, red above), so a
gradient's sign reads at a glance; non-negative data with a sequential map (viridis).
Heatmaps larger than ``MAX_PIXELS`` on a side are shown max-|value|-pooled in blocks (the
hover text then names the block), so a 4096 × 4096 Jacobian stays cheap to draw.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QStackedWidget,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from .theme import current_theme

#: Tensors with at most this many values are shown as a table of numbers.
TABLE_MAX = 32
#: A heatmap larger than this on either side is block-pooled (max |value|) for display.
MAX_PIXELS = 512
#: The image grid shows at most this many examples and channels.
GRID_MAX = 8

#: Diverging maps centred on 0: blue-black-red on the dark theme, blue-white-red on the
#: light one (colorcet's CET-D4 and CET-D1).
DIVERGING_DARK = pg.colormap.get("CET-D4")
DIVERGING_LIGHT = pg.colormap.get("CET-D1")
SEQUENTIAL = pg.colormap.get("viridis")


def format_number(v: float) -> str:
    """A value as the views write it: 4 significant digits, ``0`` for exact zeros."""
    v = float(v)
    if v == 0.0:
        return "0"
    return f"{v:.4g}"


def format_shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + (",)" if len(shape) == 1 else ")")


def pool_max_abs(a: np.ndarray, max_side: int = MAX_PIXELS) -> tuple[np.ndarray, int, int]:
    """Block-pool a 2-D array to at most ``max_side`` per side, keeping in each block the
    entry of largest magnitude (with its sign), so sparse structure (a diagonal) stays
    visible. Returns ``(pooled, block_rows, block_cols)``; blocks of 1 leave ``a`` as is."""
    rows, cols = a.shape
    br = -(-rows // max_side) if rows > max_side else 1
    bc = -(-cols // max_side) if cols > max_side else 1
    if br == 1 and bc == 1:
        return a, 1, 1
    pr, pc = -(-rows // br) * br, -(-cols // bc) * bc
    padded = np.zeros((pr, pc), dtype=np.float64)
    padded[:rows, :cols] = a
    blocks = padded.reshape(pr // br, br, pc // bc, bc).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(pr // br, pc // bc, br * bc)
    idx = np.abs(blocks).argmax(axis=-1)
    return np.take_along_axis(blocks, idx[..., None], -1)[..., 0], br, bc


def image_grid(a: np.ndarray, n_max: int = GRID_MAX, c_max: int = GRID_MAX
               ) -> tuple[np.ndarray, int, int]:
    """Tile a (N, C, H, W) array into one 2-D image: example n in tile row n, channel c in
    tile column c, 1-pixel NaN gaps between tiles. Returns ``(image, n_shown, c_shown)``."""
    n, c, h, w = a.shape
    n_shown, c_shown = min(n, n_max), min(c, c_max)
    img = np.full((n_shown * (h + 1) - 1, c_shown * (w + 1) - 1), np.nan, dtype=np.float32)
    for i in range(n_shown):
        for j in range(c_shown):
            img[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w] = a[i, j]
    return img, n_shown, c_shown


def integer_ticks(n: int, block: int = 1, most: int = 6) -> list:
    """Major ticks for ``n`` pixels of ``block`` tensor indices each: at most ``most``
    ticks on round index steps (1, 2, 5 × 10^k), labelled with the tensor's index."""
    total = n * block
    step = next(m * 10 ** k for k in range(12) for m in (1, 2, 5) if total <= most * m * 10 ** k)
    return [[(i / block, str(i)) for i in range(0, total, step)]]


def choose_mode(shape: tuple[int, ...]) -> str:
    """How a tensor of ``shape`` is shown: ``"scalar"``, ``"table"``, ``"heatmap"``,
    ``"sequence"`` (3-D) or ``"images"`` (4-D)."""
    size = int(np.prod(shape)) if shape else 1
    if len(shape) == 0 or size == 1:
        return "scalar"
    if size <= TABLE_MAX:
        return "table"
    if len(shape) == 3:
        return "sequence"
    if len(shape) == 4:
        return "images"
    return "heatmap"


class TensorView(QWidget):
    """Shows one array (see the module docstring for how each shape is drawn).

    Signals:
        hovered(str): the text under the cursor changed (also shown below the plot).
    """

    hovered = Signal(str)

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent)
        theme = current_theme()
        self._title = title
        self._array: np.ndarray | None = None
        self._display: np.ndarray | None = None   # what the heatmap draws (2-D)
        self._mode = "empty"
        self._block = (1, 1)
        self._grid = (0, 0)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        head = QHBoxLayout()
        head.setSpacing(4)
        self.title_label = QLabel(self)
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.title_label.setWordWrap(True)
        head.addWidget(self.title_label, 1)
        self.example_label = QLabel("example", self)
        self.example_spin = QSpinBox(self)
        self.example_spin.setToolTip("Which example of the batch to show (one row per position)")
        self.example_spin.valueChanged.connect(self._on_example_changed)
        head.addWidget(self.example_label)
        head.addWidget(self.example_spin)
        lay.addLayout(head)

        self.stack = QStackedWidget(self)
        self.empty_label = QLabel("—", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scalar_label = QLabel(self)
        self.scalar_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scalar_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.scalar_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.scalar_label.setFont(font)
        self.table = QTableWidget(self)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setDefaultSectionSize(64)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.plot_widget = pg.GraphicsLayoutWidget(self)
        self.plot_widget.setBackground(theme.plot_background)
        self.plot = self.plot_widget.addPlot()
        self.plot.invertY(True)
        self.plot.setAspectLocked(False)
        self.plot.hideButtons()
        self.plot.getViewBox().setMenuEnabled(False)
        self.plot.getViewBox().setMouseEnabled(False, False)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(theme.plot_foreground))
            axis.setTextPen(pg.mkPen(theme.plot_foreground))
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self._diverging = DIVERGING_DARK if theme.dark else DIVERGING_LIGHT
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=self._diverging, interactive=False,
                                        width=12)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.plot_widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        for w in (self.empty_label, self.scalar_label, self.table, self.plot_widget):
            self.stack.addWidget(w)
        lay.addWidget(self.stack, 1)
        self.hover_label = QLabel(" ", self)
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hover_label.setStyleSheet("font-family: monospace;")
        lay.addWidget(self.hover_label)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(150, 120)
        self.clear()

    # -- public API ---------------------------------------------------------------------

    def array(self) -> np.ndarray | None:
        """The array shown (as given to :meth:`set_array`), or None."""
        return self._array

    def mode(self) -> str:
        """``"empty"``, ``"scalar"``, ``"table"``, ``"heatmap"``, ``"sequence"`` or
        ``"images"``."""
        return self._mode

    def title(self) -> str:
        return self.title_label.text()

    def clear(self, message: str = "—") -> None:
        self._array = None
        self._display = None
        self._mode = "empty"
        self.empty_label.setText(message)
        self.title_label.setText(f"<b>{self._title}</b>")
        self.stack.setCurrentWidget(self.empty_label)
        self._show_example_picker(False)
        self.hover_label.setText(" ")

    def set_array(self, array, title: str | None = None, note: str = "") -> None:
        """Show ``array`` (any shape; None clears). ``title`` replaces the view's title;
        the shape is written after it, then ``note``."""
        if title is not None:
            self._title = title
        if array is None:
            self.clear(note or "—")
            return
        a = np.asarray(array)
        self._array = a
        shape_txt = format_shape(a.shape) if a.ndim else "scalar"
        extra = f" <span style='color:gray'>{note}</span>" if note else ""
        self.title_label.setText(f"<b>{self._title}</b> <code>{shape_txt}</code>{extra}")
        self._mode = choose_mode(a.shape)
        self._show_example_picker(self._mode == "sequence")
        self.hover_label.setText(" ")
        if self._mode == "scalar":
            self.scalar_label.setText(format_number(a.reshape(-1)[0]) if a.size else "—")
            self.stack.setCurrentWidget(self.scalar_label)
        elif self._mode == "table":
            self._fill_table(a)
            self.stack.setCurrentWidget(self.table)
        elif self._mode == "sequence":
            blocked = self.example_spin.blockSignals(True)
            self.example_spin.setRange(0, a.shape[0] - 1)
            self.example_spin.blockSignals(blocked)
            self._show_heatmap(a[self.example_spin.value()].astype(np.float64),
                               row_name="position", col_name="feature")
        elif self._mode == "images":
            img, n, c = image_grid(a)
            self._grid = (n, c)
            self._show_heatmap(img, row_name="", col_name="")
        else:
            flat = a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)
            self._show_heatmap(flat.astype(np.float64), row_name="row", col_name="col")

    def levels(self) -> tuple[float, float]:
        """The colour bar's range (symmetric about 0 for signed data)."""
        return tuple(float(v) for v in self.colorbar.levels())

    def hover_text(self, row: int, col: int) -> str:
        """What the view says when the cursor is over display pixel (row, col): the
        tensor's index and value; "" outside the data."""
        a, d = self._array, self._display
        if a is None or d is None or not (0 <= row < d.shape[0] and 0 <= col < d.shape[1]):
            return ""
        if self._mode == "images":
            _, _, h, w = a.shape
            n, hh = divmod(row, h + 1)
            c, ww = divmod(col, w + 1)
            if hh == h or ww == w:
                return ""
            return f"[{n}, {c}, {hh}, {ww}] = {format_number(a[n, c, hh, ww])}"
        if self._mode == "sequence":
            n = self.example_spin.value()
            return f"[{n}, {row}, {col}] = {format_number(a[n, row, col])}"
        br, bc = self._block
        if br > 1 or bc > 1:
            r0, c0 = row * br, col * bc
            return (f"[{r0}:{r0 + br}, {c0}:{c0 + bc}] largest |value| = "
                    f"{format_number(d[row, col])}")
        if a.ndim == 1:
            return f"[{col}] = {format_number(a[col])}"
        if a.ndim == 2:
            return f"[{row}, {col}] = {format_number(a[row, col])}"
        flat = a.reshape(a.shape[0], -1)
        idx = np.unravel_index(col, a.shape[1:])
        return f"[{', '.join(map(str, (row, *idx)))}] = {format_number(flat[row, col])}"

    def table_values(self) -> np.ndarray:
        """The numbers in the table as floats (rows × columns), for checks."""
        t = self.table
        return np.array([[float(t.item(r, c).text()) for c in range(t.columnCount())]
                         for r in range(t.rowCount())])

    # -- drawing ------------------------------------------------------------------------

    def _show_example_picker(self, on: bool) -> None:
        self.example_label.setVisible(on)
        self.example_spin.setVisible(on)

    def _fill_table(self, a: np.ndarray) -> None:
        flat = a.reshape(1, -1) if a.ndim <= 1 else a.reshape(a.shape[0], -1)
        t = self.table
        t.clear()
        t.setRowCount(flat.shape[0])
        t.setColumnCount(flat.shape[1])
        t.setHorizontalHeaderLabels([str(c) for c in range(flat.shape[1])])
        t.setVerticalHeaderLabels([str(r) for r in range(flat.shape[0])])
        for r in range(flat.shape[0]):
            for c in range(flat.shape[1]):
                item = QTableWidgetItem(format_number(flat[r, c]))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                      | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(self._table_index(a, r, c))
                t.setItem(r, c, item)
        t.resizeColumnsToContents()

    @staticmethod
    def _table_index(a: np.ndarray, r: int, c: int) -> str:
        if a.ndim <= 1:
            return f"[{c}]"
        idx = np.unravel_index(c, a.shape[1:]) if a.ndim > 2 else (c,)
        return f"[{', '.join(map(str, (r, *idx)))}]"

    def _show_heatmap(self, img: np.ndarray, row_name: str, col_name: str) -> None:
        if self._mode == "heatmap":
            img, br, bc = pool_max_abs(img)
            self._block = (br, bc)
        else:
            self._block = (1, 1)
        self._display = img
        finite = img[np.isfinite(img)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        if lo < 0:
            m = max(abs(lo), abs(hi)) or 1.0
            levels, cmap = (-m, m), self._diverging
        else:
            levels, cmap = (0.0, hi if hi > 0 else 1.0), SEQUENTIAL
        self.image.setImage(img.astype(np.float32), autoLevels=False)
        self.colorbar.setColorMap(cmap)
        self.colorbar.setLevels(levels)
        # pixel (r, c) is centred on (c, r), so the axes' integer ticks name pixels
        self.image.setRect(-0.5, -0.5, img.shape[1], img.shape[0])
        self.plot.setRange(xRange=(-0.5, img.shape[1] - 0.5),
                           yRange=(-0.5, img.shape[0] - 0.5), padding=0)
        for name, n, block in (("bottom", img.shape[1], self._block[1]),
                               ("left", img.shape[0], self._block[0])):
            self.plot.getAxis(name).setTicks(integer_ticks(n, block))
        self.plot.getAxis("left").setLabel(row_name or None)
        self.plot.getAxis("bottom").setLabel(col_name or None)
        show_axes = self._mode != "images"
        self.plot.showAxis("left", show_axes)
        self.plot.showAxis("bottom", show_axes)
        self.stack.setCurrentWidget(self.plot_widget)

    # -- handlers -----------------------------------------------------------------------

    def _on_example_changed(self, n: int) -> None:
        if self._mode == "sequence" and self._array is not None:
            self._show_heatmap(self._array[n].astype(np.float64), "position", "feature")

    def _on_mouse_moved(self, scene_pos) -> None:
        if self._display is None:
            return
        p = self.image.mapFromScene(scene_pos)
        text = self.hover_text(int(np.floor(p.y())), int(np.floor(p.x())))
        self.hover_label.setText(text or " ")
        self.plot_widget.setToolTip(text)
        if text:
            self.hovered.emit(text)
