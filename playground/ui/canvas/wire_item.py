"""A wire: a cubic Bézier from an output port to an input port, with the tensor shape it
carries written at its middle ("(N, 64)"). Red when the node it feeds is invalid.

While stepping, the wire a tensor (forward) or a gradient (backward) travels on glows, with
arrows pointing the way it travels. With the gradient-health overlay on, the wire's colour
and width follow log10 of the norm of the gradient going back along it.

Zoomed out (below :data:`.style.FAR_LOD`) a wire drops its label and is drawn a fixed
number of screen pixels wide."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyle

from playground.graph import Edge, format_shape

from .style import (FAR_LOD, FAR_WIRE_WIDTH, CanvasStyle, cosmetic_pen, health_color,
                    health_fraction, health_width)

if TYPE_CHECKING:
    from .node_item import NodeItem

WIRE_WIDTH = 2.2
_HIT_WIDTH = 12.0


#: A wire running back left by more than this to a node wholly below its source (the wire
#: over a cut of a wrapped layout: the end of one band to the start of the next) goes round
#: through the space above the destination, like a line break, instead of across the band.
WRAP_MIN_BACK = 120.0
_WRAP_TURN = 36.0      # radius of its turns
_WRAP_ABOVE = 44.0     # its channel, that far above the destination's top


def wire_path(start: QPointF, end: QPointF, channel: float | None = None) -> QPainterPath:
    """The Bézier from an output at ``start`` to an input at ``end``: it leaves ``start``
    heading right and enters ``end`` heading right, like Blender's noodles.

    With ``channel`` (a scene y between the two) it turns down from ``start`` to that
    height, runs left along it and turns down again into ``end``: the route of a wrapped
    layout's wire to the next band (see :func:`wrap_channel`)."""
    if channel is not None:
        r = max(min(_WRAP_TURN, (channel - start.y()) / 2, (end.y() - channel) / 2), 4.0)
        path = QPainterPath(start)
        path.cubicTo(start + QPointF(2 * r, 0), QPointF(start.x() + 2 * r, channel),
                     QPointF(start.x(), channel))
        path.lineTo(end.x(), channel)
        path.cubicTo(QPointF(end.x() - 2 * r, channel), end - QPointF(2 * r, 0), end)
        return path
    dx = end.x() - start.x()
    handle = max(abs(dx) * 0.5, 40.0) if dx >= 0 else min(60.0 + abs(dx) * 0.25, 160.0)
    handle = max(handle, min(abs(end.y() - start.y()) * 0.3, 80.0))
    path = QPainterPath(start)
    path.cubicTo(start + QPointF(handle, 0), end - QPointF(handle, 0), end)
    return path


def wrap_channel(start: QPointF, end: QPointF, src_bottom: float,
                 dst_top: float) -> float | None:
    """The height of a wrapped wire's run back to the left (see :func:`wire_path`), or None
    for an ordinary wire: one that does not run back left by WRAP_MIN_BACK or more to a
    node whose top (``dst_top``) is below its source's bottom (``src_bottom``)."""
    if start.x() - end.x() < WRAP_MIN_BACK or dst_top <= src_bottom + 8:
        return None
    return max(dst_top - _WRAP_ABOVE, (src_bottom + dst_top) / 2)


class WireItem(QGraphicsItem):
    """The view of one :class:`~playground.graph.Edge`. Lives in scene coordinates."""

    def __init__(self, edge: Edge, src: "NodeItem", dst: "NodeItem", style: CanvasStyle):
        super().__init__()
        self.edge = edge
        self.src_item = src
        self.dst_item = dst
        self.style = style
        self._label = "?"
        self._invalid = False
        self._hover = False
        self._path = QPainterPath()
        self._shape = QPainterPath()
        self._label_rect = QRectF()
        self._bounds = QRectF()
        self._pen = QPen()
        self._hover_pen = QPen()
        self._selected_pen = QPen()
        self._label_pen = QPen()
        self._highlight = False
        self._backward = False
        self._health: float | None = None
        self._health_pen: QPen | None = None
        self._far_pen = QPen()              # the far-away form's pens (see FAR_LOD)
        self._far_health_pen: QPen | None = None
        self._base_tip = ""
        self.setFlag(QGraphicsItem.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(-1)
        src.wires.add(self)
        dst.wires.add(self)
        self.refresh()

    # -- public API ---------------------------------------------------------------------

    def label_text(self) -> str:
        """The shape of the tensor on the wire, e.g. "(N, 8)"; "?" while it is unknown."""
        return self._label

    def is_invalid(self) -> bool:
        """True when the node the wire feeds is invalid (the wire is drawn red)."""
        return self._invalid

    def set_highlight(self, on: bool, backward: bool = False) -> None:
        """Glow (the wire a stepped tensor or gradient travels on); ``backward`` draws the
        gradient's colour and arrows pointing back to the source."""
        if on != self._highlight or (on and backward != self._backward):
            self._highlight = on
            self._backward = backward
            self.setZValue(-0.5 if on else -1)
            self.update()

    def is_highlighted(self) -> bool:
        return self._highlight

    def is_backward_highlight(self) -> bool:
        return self._highlight and self._backward

    def set_health(self, norm: float | None, overlay: bool | None = None) -> None:
        """Colour and thicken the wire by log10 of ``norm``, the L2 norm of the gradient
        going back along it (see :func:`.style.health_fraction`). With ``overlay`` on and
        no norm (the wire carries no gradient: data, class targets) the wire is dimmed;
        ``norm=None`` with the overlay off (the default for None) restores it."""
        overlay = norm is not None if overlay is None else overlay
        if norm == self._health and overlay == (self._health_pen is not None):
            return
        self._health = norm
        if norm is None and overlay:
            dim = QColor(self._pen.color())
            dim.setAlpha(60)
            self._health_pen = QPen(dim, WIRE_WIDTH, Qt.SolidLine, Qt.RoundCap)
        elif norm is None:
            self._health_pen = None
        else:
            t = health_fraction(norm)
            self._health_pen = QPen(health_color(t), health_width(t), Qt.SolidLine,
                                    Qt.RoundCap)
        self._far_health_pen = None if self._health_pen is None else cosmetic_pen(
            self._health_pen, max(FAR_WIRE_WIDTH, self._health_pen.widthF() * 0.6))
        self._update_tooltip()
        self.update()

    def health(self) -> float | None:
        return self._health

    def health_pen(self) -> QPen | None:
        """The pen the overlay draws with (None while it is off)."""
        return self._health_pen

    def _update_tooltip(self) -> None:
        tip = self._base_tip
        if self._health is not None:
            tip += f"\n‖∂L/∂x‖ = {self._health:.3g} (gradient norm on this wire)"
        self.setToolTip(tip)

    def detach(self) -> None:
        self.src_item.wires.discard(self)
        self.dst_item.wires.discard(self)

    def set_style(self, style: CanvasStyle) -> None:
        self.style = style
        self.refresh()

    def refresh(self) -> None:
        """Re-read the shape on the wire and the state of its destination."""
        model, e, st = self.src_item.model, self.edge, self.style
        state = model.state(e.src)
        self.shown_states = (state, model.state(e.dst))
        shape = state.outputs.get(e.src_port) if state.ok else None
        self._label = format_shape(shape) if shape is not None else "?"
        self._invalid = model.state(e.dst).status == "error"
        port = model.output_port(e.src, e.src_port)
        color = st.error_color if self._invalid else st.port_color(port.kind if port else "")
        self._pen = QPen(color, WIRE_WIDTH, Qt.SolidLine, Qt.RoundCap)
        self._hover_pen = QPen(color.lighter(130), WIRE_WIDTH + 1.0, Qt.SolidLine, Qt.RoundCap)
        self._selected_pen = QPen(st.selection_color, WIRE_WIDTH + 1.2, Qt.SolidLine, Qt.RoundCap)
        self._far_pen = cosmetic_pen(self._pen, FAR_WIRE_WIDTH)
        border = QColor(color)
        border.setAlpha(150)
        self._label_pen = QPen(border, 1.0)
        self._base_tip = (f"{model.name(e.src)}.{e.src_port} → {model.name(e.dst)}."
                          f"{e.dst_port}: {self._label}")
        self._update_tooltip()
        self.update_path()

    def update_path(self) -> None:
        """Follow the ports (after a node moved or was laid out again)."""
        start = self.src_item.port_scene_pos(self.edge.src_port, True)
        end = self.dst_item.port_scene_pos(self.edge.dst_port, False)
        self.prepareGeometryChange()
        src, dst = self.src_item, self.dst_item
        channel = wrap_channel(start, end, src.mapRectToScene(src.body_rect()).bottom(),
                               dst.mapRectToScene(dst.body_rect()).top())
        self._path = wire_path(start, end, channel)
        stroker = QPainterPathStroker()
        stroker.setWidth(_HIT_WIDTH)
        self._shape = stroker.createStroke(self._path)
        fm = self.style.label_fm
        w, h = fm.horizontalAdvance(self._label) + 10, fm.height() + 3
        mid = self._path.pointAtPercent(0.5)
        chord = end - start
        if abs(chord.x()) < w + 36 and abs(chord.y()) < h:
            mid -= QPointF(0, h / 2 + 6)  # short and flat: sit above it, keep the wire visible
        self._label_rect = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)
        self._shape.addRect(self._label_rect)
        self._bounds = self._path.boundingRect().united(self._label_rect).adjusted(-9, -9, 9, 9)
        self.update()

    def path(self) -> QPainterPath:
        return self._path

    def label_rect(self) -> QRectF:
        return self._label_rect

    # -- Qt -----------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._shape

    def paint(self, painter, option, widget=None):
        st = self.style
        selected = bool(option.state & QStyle.State_Selected)
        far = option.levelOfDetailFromTransform(painter.worldTransform()) < FAR_LOD
        if far:  # zoomed out: a few screen pixels wide, so the wiring stays visible
            pen = st.far_selected_wire_pen if selected else self._far_pen
            if self._far_health_pen is not None and not selected:
                pen = self._far_health_pen
        else:
            pen = self._selected_pen if selected else self._hover_pen if self._hover else self._pen
            if self._health_pen is not None and not selected:
                pen = self._health_pen
        painter.setBrush(Qt.NoBrush)
        if self._highlight:
            for glow in (st.grad_glow_pens if self._backward else st.glow_pens)[:3]:
                painter.setPen(glow)
                painter.drawPath(self._path)
        painter.setPen(pen)
        painter.drawPath(self._path)
        if self._highlight:
            self._paint_arrows(painter)
        if far:  # the shape label would be too small to read
            return
        painter.setPen(st.selection_pen if selected else self._label_pen)
        painter.setBrush(st.wire_label_brush)
        r = self._label_rect.height() / 2
        painter.drawRoundedRect(self._label_rect, r, r)
        painter.setFont(st.label_font)
        painter.setPen(st.error_color if self._invalid else st.wire_label_text)
        painter.drawText(self._label_rect, Qt.AlignCenter, self._label)

    def _paint_arrows(self, painter) -> None:
        """Chevrons along the wire pointing the way the stepped tensor travels."""
        color = self.style.grad_glow_color if self._backward else self.style.glow_color
        painter.setPen(Qt.NoPen)
        painter.setBrush(color)
        for pct in (0.22, 0.78):
            p = self._path.pointAtPercent(pct)
            angle = self._path.angleAtPercent(pct)  # degrees, counter-clockwise
            if self._backward:
                angle += 180.0
            a = math.radians(-angle)
            d = QPointF(math.cos(a), math.sin(a))
            n = QPointF(-d.y(), d.x())
            tip = p + d * 7
            painter.drawPolygon(QPolygonF([tip, p - d * 5 + n * 6, p - d * 5 - n * 6]))
        painter.setBrush(Qt.NoBrush)

    def hoverEnterEvent(self, event):
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event):
        self._hover = False
        self.update()
