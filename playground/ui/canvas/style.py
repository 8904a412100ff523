"""Paint resources of the canvas, made once per theme: colours, pens, brushes, fonts and
their metrics. Items read them from ``scene.style``; nothing is allocated per paint."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPen

from ..theme import CATEGORY_COLORS, Theme, category_color

#: Header colours for categories the theme does not name (it wins where it does).
EXTRA_CATEGORY_COLORS = {"Blocks": "#4a56a6", "Math": "#5d6b80", "Normalisation": "#5f8a34"}

# Node geometry, in scene units (pixels at zoom 1).
NODE_MIN_WIDTH = 136.0
HEADER_HEIGHT = 26.0
PORT_ROW_HEIGHT = 21.0
PARAM_ROW_HEIGHT = 17.0
ERROR_LINE_HEIGHT = 14.0
PREVIEW_HEIGHT = 26.0
PAD = 7.0
CORNER = 7.0
PORT_RADIUS = 5.0
LABEL_INSET = 12.0  # port label distance from the node's edge
BADGE_RADIUS = 8.0   # a health badge's circle, on the node's top-right corner

#: Level of detail (screen pixels per scene unit) below which the canvas draws its far-away
#: form: a node is its body in its category's colour with its type (and name) in big
#: letters, without port labels, params or sparkline, and wires drop their shape labels. At
#: 0.5 an 8.5 pt port label would be ~6 px high, too small to read.
FAR_LOD = 0.5
#: Far-away letters: the type's pixel size in scene units at most (it shrinks to fit the
#: node's width), and the name's size relative to the type's.
FAR_TITLE_MAX = 44.0
FAR_NAME_RATIO = 0.62
#: Width, in screen pixels, of outlines and wires in the far-away form (cosmetic pens, so
#: a selected or invalid node and the wiring stay visible at any zoom).
FAR_OUTLINE_WIDTH = 2.0
FAR_WIRE_WIDTH = 1.4

#: The gradient-health overlay maps log10 of a wire's gradient norm from HEALTH_LOG_MIN
#: (vanishing) to HEALTH_LOG_MAX (exploding) onto a colour scale and a width.
HEALTH_LOG_MIN = -6.0
HEALTH_LOG_MAX = 1.0
HEALTH_WIDTH_MIN = 1.5
HEALTH_WIDTH_MAX = 7.0
#: Colour stops of the overlay, vanishing to exploding (ColorBrewer's Spectral, reversed).
HEALTH_STOPS = ("#5e4fa2", "#3288bd", "#66c2a5", "#abdda4", "#fee08b", "#f46d43", "#d53e4f")
#: The glow of a backward step (the gradient), beside the theme's forward glow.
GRADIENT_GLOW = "#f06292"
#: Badge colours: dead units (ReLU) and saturated units (sigmoid, tanh).
DEAD_COLOR = "#ef5350"
SATURATED_COLOR = "#ffb300"


def health_fraction(norm: float) -> float:
    """Where a gradient norm sits on the overlay's scale: 0 at 10**HEALTH_LOG_MIN or below
    (and for 0), 1 at 10**HEALTH_LOG_MAX or above, linear in log10 between."""
    if not norm > 0 or not math.isfinite(norm):
        return 1.0 if norm == float("inf") else 0.0
    t = (math.log10(norm) - HEALTH_LOG_MIN) / (HEALTH_LOG_MAX - HEALTH_LOG_MIN)
    return min(max(t, 0.0), 1.0)


def health_color(t: float) -> QColor:
    """The overlay's colour at ``t`` in [0, 1] (see :func:`health_fraction`)."""
    t = min(max(float(t), 0.0), 1.0) * (len(HEALTH_STOPS) - 1)
    i = min(int(t), len(HEALTH_STOPS) - 2)
    f = t - i
    a, b = QColor(HEALTH_STOPS[i]), QColor(HEALTH_STOPS[i + 1])
    return QColor(round(a.red() + f * (b.red() - a.red())),
                  round(a.green() + f * (b.green() - a.green())),
                  round(a.blue() + f * (b.blue() - a.blue())))


def health_width(t: float) -> float:
    return HEALTH_WIDTH_MIN + min(max(float(t), 0.0), 1.0) * (HEALTH_WIDTH_MAX - HEALTH_WIDTH_MIN)


def _font(point_size: float, bold: bool = False, family: str | None = None) -> QFont:
    font = QFont(family) if family else QFont()
    font.setPointSizeF(point_size)
    font.setBold(bold)
    font.setHintingPreference(QFont.PreferNoHinting)
    return font


def cosmetic_pen(pen: QPen, width: float) -> QPen:
    """A copy of ``pen`` that is ``width`` screen pixels wide at any zoom."""
    out = QPen(pen)
    out.setWidthF(width)
    out.setCosmetic(True)
    return out


class CanvasStyle:
    """Everything the canvas paints with, derived from one :class:`~playground.ui.theme.Theme`."""

    def __init__(self, theme: Theme):
        self.theme = theme
        c = QColor
        self.background = c(theme.canvas_background)
        self.grid_minor_pen = QPen(c(theme.grid_minor), 0)
        self.grid_major_pen = QPen(c(theme.grid_major), 0)

        self.body_brush = QBrush(c(theme.node_body))
        self.border_pen = QPen(c(theme.node_border), 1.0)
        self.shadow_brush = QBrush(c(theme.node_shadow))
        self.selection_pen = QPen(c(theme.selection), 2.0)
        self.error_color = c(theme.error)
        self.error_pen = QPen(self.error_color, 2.0)
        self.blocked_pen = QPen(c(theme.blocked), 1.5, Qt.DashLine)
        self.glow_color = c(theme.glow)
        self.glow_pens = []
        for width, alpha in ((14.0, 28), (9.0, 55), (5.0, 110), (2.0, 255)):
            col = QColor(self.glow_color)
            col.setAlpha(alpha)
            self.glow_pens.append(QPen(col, width))
        self.grad_glow_color = c(GRADIENT_GLOW)
        self.grad_glow_pens = []
        for width, alpha in ((14.0, 28), (9.0, 55), (5.0, 110), (2.0, 255)):
            col = QColor(self.grad_glow_color)
            col.setAlpha(alpha)
            self.grad_glow_pens.append(QPen(col, width))
        self.badge_colors = {"dead": c(DEAD_COLOR), "saturated": c(SATURATED_COLOR)}
        self.badge_pen = QPen(c(theme.node_body), 1.5)
        self.badge_font = _font(7.5, bold=True)
        self.divider_pen = QPen(c(theme.node_border), 1.0)
        self.preview_pen = QPen(self.glow_color, 1.5)

        self.title_color = c(theme.node_title)
        self.text_color = c(theme.node_text)
        self.dim_color = c(theme.node_dim_text)
        self.shape_color = c(theme.shape_text)
        self.blocked_color = c(theme.blocked)

        self.port_colors = {"tensor": c(theme.port_tensor), "index": c(theme.port_index),
                            "scalar": c(theme.port_scalar)}
        self.port_outline_pen = QPen(c(theme.node_body), 2.0)
        self.port_hover_pen = QPen(c(theme.node_title), 2.0)

        self.wire_color = c(theme.wire)
        self.wire_label_brush = QBrush(c(theme.wire_label_bg))
        self.wire_label_text = c(theme.wire_label_text)
        self.selection_color = c(theme.selection)

        self.rubber_band = c(theme.rubber_band)

        # closed blocks (stacked cards, an "open" button) and open groups (frames)
        body = c(theme.node_body)
        self.stack_brush = QBrush(body.darker(112) if theme.dark else body.darker(104))
        self.stack_pen = QPen(c(theme.node_border), 1.0)
        button = QColor(0, 0, 0, 70) if theme.dark else QColor(255, 255, 255, 90)
        self.button_brush = QBrush(button)
        self.button_pen = QPen(QColor(255, 255, 255, 110), 1.0)
        block = QColor(EXTRA_CATEGORY_COLORS["Blocks"])
        fill = QColor(block)
        fill.setAlpha(34 if theme.dark else 26)
        self.frame_brush = QBrush(fill)
        edge = QColor(block.lighter(150) if theme.dark else block)
        edge.setAlpha(170)
        self.frame_pen = QPen(edge, 1.4, Qt.DashLine)
        head = QColor(block)
        head.setAlpha(150 if theme.dark else 120)
        self.frame_header_brush = QBrush(head)
        self.frame_title_font = _font(9.0, bold=True)
        self.frame_title_fm = QFontMetricsF(self.frame_title_font)

        self.title_font = _font(9.5, bold=True)
        self.name_font = _font(8.5)
        self.port_font = _font(8.5)
        self.param_font = _font(8.0)
        self.shape_font = _font(8.0, family="monospace")
        self.shape_font.setStyleHint(QFont.Monospace)
        self.error_font = _font(8.0)
        self.label_font = _font(7.5, family="monospace")
        self.label_font.setStyleHint(QFont.Monospace)

        self.title_fm = QFontMetricsF(self.title_font)
        self.name_fm = QFontMetricsF(self.name_font)
        self.port_fm = QFontMetricsF(self.port_font)
        self.param_fm = QFontMetricsF(self.param_font)
        self.shape_fm = QFontMetricsF(self.shape_font)
        self.error_fm = QFontMetricsF(self.error_font)
        self.label_fm = QFontMetricsF(self.label_font)

        # the far-away form (see FAR_LOD): outlines a fixed number of screen pixels wide
        self.far_selection_pen = cosmetic_pen(self.selection_pen, FAR_OUTLINE_WIDTH + 0.5)
        self.far_error_pen = cosmetic_pen(self.error_pen, FAR_OUTLINE_WIDTH + 0.5)
        self.far_blocked_pen = cosmetic_pen(self.blocked_pen, FAR_OUTLINE_WIDTH)
        self.far_border_pen = cosmetic_pen(QPen(c(theme.node_border).darker(130)
                                             if theme.dark else c(theme.node_border)), 1.0)
        self.far_selected_wire_pen = QPen(self.selection_color, FAR_WIRE_WIDTH + 1.0,
                                          Qt.SolidLine, Qt.RoundCap)
        self.far_selected_wire_pen.setCosmetic(True)
        self._far_fonts: dict[tuple[int, bool], tuple[QFont, QFontMetricsF]] = {}

        self._category: dict[str, QColor] = {}

    def far_font(self, pixel_size: float, bold: bool = True) -> tuple[QFont, QFontMetricsF]:
        """A font ``pixel_size`` scene units high (rounded to whole units) and its metrics,
        made once per size, for the far-away form's big letters."""
        key = (max(1, round(pixel_size)), bold)
        found = self._far_fonts.get(key)
        if found is None:
            font = QFont(self.title_font)
            font.setPixelSize(key[0])
            font.setBold(bold)
            found = self._far_fonts[key] = (font, QFontMetricsF(font))
        return found

    def category_color(self, category: str) -> QColor:
        col = self._category.get(category)
        if col is None:
            if category not in CATEGORY_COLORS and category in EXTRA_CATEGORY_COLORS:
                col = QColor(EXTRA_CATEGORY_COLORS[category])
            else:
                col = category_color(category)
            self._category[category] = col
        return col

    def port_color(self, kind: str) -> QColor:
        return self.port_colors.get(kind, self.wire_color)
