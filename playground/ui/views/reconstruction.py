"""An autoencoder's reconstructions: held-out inputs in the top row, what the network
makes of them below, each pair in one column. Reads ``reconstruction`` from the frame's
views (see :mod:`playground.session.autoencoder`)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..plots import DARK_PLOT
from .base import Frame, ViewWidget, image_plot
from .generative import image_grid


class ReconstructionView(ViewWidget):
    """Inputs (top) against their reconstructions (bottom) for the first held-out examples;
    the caption gives their mean squared error per pixel.

    Attributes:
        inputs, outputs: the arrays shown, (K, C, H, W), or None before the first frame.
    """

    title = "Reconstruction"
    blurb = "An autoencoder's held-out inputs (top) and its reconstructions (bottom)."

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.input_plot, self.input_image = image_plot(
            self.layout_widget, "held-out inputs", colors, row=0, col=0)
        self.output_plot, self.output_image = image_plot(
            self.layout_widget, "reconstructions", colors, row=1, col=0)
        self.set_content(self.layout_widget)
        self.inputs: np.ndarray | None = None
        self.outputs: np.ndarray | None = None
        self._shown = None

    def render(self, frame: Frame) -> str | None:
        rec = frame.views.get("reconstruction")
        if rec is None:
            return ("Reconstructions show for autoencoders: a graph whose loss compares a "
                    "node's output with the Dataset's own x (wire data.x into the loss's "
                    "target).")
        if rec is self._shown:
            return None
        self._shown = rec
        x, y = (np.asarray(a, np.float32) for a in rec)
        if x.ndim == 2:  # not images: each example as one row of values
            x, y = x[:, None, None, :], y[:, None, None, :]
        self.inputs, self.outputs = x, y
        bg = self.colors["background"]
        k = len(x)
        self.input_image.setImage(image_grid(x, bg, cols=k), levels=(0, 255))
        self.output_image.setImage(image_grid(y, bg, cols=k), levels=(0, 255))
        mse = float(np.mean((x - y) ** 2)) if k else float("nan")
        code = frame.views.get("code")
        latent = frame.views.get("latent")
        dims = f"{latent[0].shape[1]}-D " if latent is not None else ""
        where = f" through the {dims}code {self.name(code[0])}" if code else ""
        self.set_caption(f"{k} held-out examples{where}; MSE per pixel of these {mse:.4f}",
                         frame)
        return None

    def csv_table(self):
        rows = []
        if self.inputs is not None:
            for kind, arr in (("input", self.inputs), ("reconstruction", self.outputs)):
                m, c, h, w = arr.shape
                for i in range(m):
                    for ch in range(c):
                        for r in range(h):
                            rows.append((kind, i, ch, r, *arr[i, ch, r]))
            w = self.inputs.shape[3]
            return ("kind", "example", "channel", "row", *(f"col{j}" for j in range(w))), rows
        return ("kind", "example", "channel", "row"), rows


__all__ = ["ReconstructionView"]
