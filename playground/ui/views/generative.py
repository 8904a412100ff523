"""Views of generative models: a grid of generated samples (GAN or VAE), real against
generated points over a 2-D GAN's discriminator, and a VAE's 2-D latent space with its
decoded manifold. They read the recipe's views in the frame (``Session.views``)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from ..plots import DARK_PLOT, _style_plot, class_color
from .base import Frame, ViewWidget, image_plot, lut, rgb_image, tile

REAL_COLOR, FAKE_COLOR = "#4fa3ff", "#ff9f43"


def image_grid(images: np.ndarray, background: str, cols: int | None = None) -> np.ndarray:
    """Images (M, C, H, W) with values in [0, 1] tiled into one RGB image (uint8)."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if images.shape[1] == 3:
        chans = [tile(images[:, c], cols) for c in range(3)]
        rgb = np.stack(chans, axis=-1)
        bg = pg.mkColor(background)
        out = np.nan_to_num(rgb * 255.0)
        out[np.isnan(chans[0])] = (bg.red(), bg.green(), bg.blue())
        return out.astype(np.uint8)
    grid = tile(images[:, 0], cols)
    return rgb_image(grid, lut("CET-L1"), (0.0, 1.0), background)


class SamplesView(ViewWidget):
    """A grid of the generator's samples: a GAN's generated images, or a VAE's decoding
    of 64 fixed draws of z ~ N(0, I) (so the grid changes only as the decoder learns)."""

    title = "Samples"
    blurb = "A grid of generated samples (GAN or VAE)."

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.plot, self.image = image_plot(self.layout_widget, "", colors)
        self.set_content(self.layout_widget)
        self.samples: np.ndarray | None = None
        self._shown = None

    def render(self, frame: Frame) -> str | None:
        samples = frame.views.get("samples")
        if samples is None:
            if frame.recipe == "gan":
                return ("This GAN's samples are 2-D points: see the GAN view for them over "
                        "the discriminator's output.")
            return "Samples show for generative models (the GAN and VAE recipes)."
        if samples is self._shown:
            return None
        self._shown = samples
        self.samples = np.asarray(samples, np.float32)
        self.image.setImage(image_grid(self.samples, self.colors["background"]),
                            levels=(0, 255))
        what = "z ~ N(0, I), decoded" if frame.recipe == "vae" else "generated from noise"
        self.set_caption(f"{len(self.samples)} samples, {what}", frame)
        return None

    def csv_table(self):
        rows = []
        if self.samples is not None:
            m, c, h, w = self.samples.shape
            for i in range(m):
                for ch in range(c):
                    for r in range(h):
                        rows.append((i, ch, r, *self.samples[i, ch, r]))
            header = ("sample", "channel", "row", *(f"col{j}" for j in range(w)))
            return header, rows
        return ("sample", "channel", "row"), rows


class GanView(ViewWidget):
    """A 2-D GAN: the discriminator's probability of "real" over the plane (blue: real,
    orange: generated), the real points and the generated ones."""

    title = "GAN"
    blurb = "Real against generated points over the discriminator's output (2-D GANs)."

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.plot_widget = pg.PlotWidget(self, background=colors["background"])
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        _style_plot(self.plot, "", colors, grid=False)
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.plot.addItem(self.image)
        self.real = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(REAL_COLOR))
        self.fake = pg.ScatterPlotItem(size=5, pen=pg.mkPen("#1b1e24", width=0.5),
                                       brush=pg.mkBrush(FAKE_COLOR))
        self.plot.addItem(self.real)
        self.plot.addItem(self.fake)
        legend = self.plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
        legend.addItem(self.real, "real")
        legend.addItem(self.fake, "generated")
        self.set_content(self.plot_widget)
        self.data: dict = {}
        self._shown = None
        self._ranged = False

    def render(self, frame: Frame) -> str | None:
        v = frame.views
        d = v.get("discriminator")
        if frame.recipe != "gan" or d is None:
            return ("This view shows 2-D GANs: real and generated points over the "
                    "discriminator's probability of 'real'.")
        if d is self._shown:
            return None
        self._shown = d
        real, fake = np.asarray(v["real"], np.float32), np.asarray(v["fake"], np.float32)
        p = np.asarray(d.probs, np.float32)[..., 0]
        self.data = {"real": real, "fake": fake, "probs": p, "x_range": d.x_range,
                     "y_range": d.y_range}
        mid = np.array(pg.mkColor(self.colors["mid"]).getRgb()[:3], np.float32)
        t = (2.0 * p - 1.0)[..., None]
        target = np.where(t >= 0, np.array(pg.mkColor(REAL_COLOR).getRgb()[:3], np.float32),
                          np.array(pg.mkColor(FAKE_COLOR).getRgb()[:3], np.float32))
        img = mid + np.abs(t) * 0.55 * (target - mid)
        self.image.setImage(np.clip(img, 0, 255).astype(np.uint8), levels=(0, 255))
        (x0, x1), (y0, y1) = d.x_range, d.y_range
        self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.real.setData(pos=real)
        self.fake.setData(pos=fake)
        if not self._ranged:
            self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            self._ranged = True
        d_real = frame.metrics.get("d_real")
        extra = f"; D(real) = {d_real:.2f}, D(generated) = {frame.metrics['d_fake']:.2f}" \
            if d_real is not None and "d_fake" in frame.metrics else ""
        self.set_caption(f"{len(real)} real, {len(fake)} generated{extra}", frame)
        return None

    def csv_table(self):
        rows = []
        if self.data:
            for kind in ("real", "fake"):
                for x, y in self.data[kind]:
                    rows.append((kind, x, y, ""))
            p = self.data["probs"]
            h, w = p.shape
            xs = np.linspace(*self.data["x_range"], w)
            ys = np.linspace(*self.data["y_range"], h)
            for r in range(h):
                for c in range(w):
                    rows.append(("discriminator", xs[c], ys[r], p[r, c]))
        return ("kind", "x", "y", "p_real"), rows


class LatentView(ViewWidget):
    """A VAE's latent space (the encoder's means of held-out examples) or an autoencoder's
    code space, coloured by class, and (2-D codes) the decoder's images over a grid of z:
    z ∈ [-2, 2]² for a VAE, the box the codes fill for an autoencoder
    (``manifold_range``)."""

    title = "Latent space"
    blurb = ("The latent space of a VAE or an autoencoder (points coloured by class) and "
             "its decoded manifold.")

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground(colors["background"])
        self.scatter_plot = self.layout_widget.addPlot(row=0, col=0)
        _style_plot(self.scatter_plot, "latent means μ(x), by class", colors)
        self.scatter_plot.setAspectLocked(True)
        self.scatter_plot.setLabel("bottom", "z₁")
        self.scatter_plot.setLabel("left", "z₂")
        self.scatter = pg.ScatterPlotItem(size=5, pen=None)
        self.scatter_plot.addItem(self.scatter)
        self.manifold_plot, self.manifold_image = image_plot(
            self.layout_widget, "decoded manifold, z ∈ [-2, 2]²", colors, row=0, col=1)
        self.set_content(self.layout_widget)
        self.points: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.manifold: np.ndarray | None = None
        self._shown = None

    def render(self, frame: Frame) -> str | None:
        latent = frame.views.get("latent")
        if latent is None:
            return ("This view shows the latent space of a VAE (the vae recipe) or the code "
                    "of an autoencoder (a loss fed the Dataset's x as its target).")
        if latent is self._shown:
            return None
        self._shown = latent
        mu, labels = latent
        self.points = np.asarray(mu, np.float32)
        self.labels = np.asarray(labels)
        if self.points.shape[1] < 2:
            return "The latent space has fewer than 2 dimensions."
        brushes = [pg.mkBrush(class_color(int(c))) for c in range(int(self.labels.max()) + 1)]
        self.scatter.setData(pos=self.points[:, :2],
                             brush=[brushes[int(c)] for c in self.labels])
        m = frame.views.get("manifold")
        self.manifold = None if m is None else np.asarray(m, np.float32)
        if self.manifold is not None and self.manifold.ndim == 5:
            g = self.manifold.shape[0]
            flat = self.manifold.reshape(g * g, *self.manifold.shape[2:])
            self.manifold_image.setImage(image_grid(flat, self.colors["background"], cols=g),
                                         levels=(0, 255))
            box = frame.views.get("manifold_range", (-2.0, 2.0))
            if np.ndim(box) == 1:  # a VAE's prior box, the same on both axes
                title = f"decoded manifold, z ∈ [{box[0]:g}, {box[1]:g}]²"
            else:
                (a, b), (c, d) = box
                title = f"decoded over [{a:.1f}, {b:.1f}] x [{c:.1f}, {d:.1f}]"
            _style_plot(self.manifold_plot, title, self.colors, grid=False)
        else:
            self.manifold_image.clear()
        dims = self.points.shape[1]
        note = "" if dims == 2 else f" (first 2 of {dims} dimensions)"
        code = frame.views.get("code")
        what = f" coded by {self.name(code[0])}" if code else ""
        _style_plot(self.scatter_plot, f"codes {self.name(code[0])}(x), by class" if code else
                    "latent means μ(x), by class", self.colors)
        self.set_caption(f"{len(self.points)} held-out examples{what}{note}", frame)
        return None

    def csv_table(self):
        rows = []
        if self.points is not None:
            for (z1, z2, *_), c in zip(self.points, self.labels):
                rows.append(("point", z1, z2, int(c)))
        return ("kind", "z1", "z2", "label"), rows


__all__ = ["GanView", "LatentView", "SamplesView", "image_grid"]
