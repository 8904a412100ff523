"""The frame of an open block: a translucent rounded rectangle around the block's nodes, with
a header that names the block and a "close" button.

The frame reads the model (the group's type and name) and takes its rectangle from the
scene, which keeps it around the members' items (:meth:`CanvasScene.update_frame`). It
takes no mouse buttons itself: the scene hit-tests its header and button, so rubber-band
selection and quick-add work inside the frame as on empty canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsItem

from playground.graph import GraphModel
from playground.graph.layout import FRAME_HEADER

from .style import CanvasStyle

CLOSE_LABEL = "close ⤡"
_RADIUS = 12.0


class GroupFrameItem(QGraphicsItem):
    """The frame of the open group ``group_id``."""

    def __init__(self, model: GraphModel, group_id: str, style: CanvasStyle, depth: int = 0):
        super().__init__()
        self.model = model
        self.group_id = group_id
        self.style = style
        self.depth = depth
        self._rect = QRectF()
        self._path = QPainterPath()
        self._header = QPainterPath()
        self._button = QRectF()
        self._title = ""
        self.setAcceptedMouseButtons(Qt.NoButton)
        self.setZValue(-3 + 0.01 * depth)
        self.refresh_title()

    # -- public API ---------------------------------------------------------------------

    def title(self) -> str:
        """``"ResNetBasicBlock · block1"``."""
        return self._title

    def rect(self) -> QRectF:
        return QRectF(self._rect)

    def header_rect(self) -> QRectF:
        r = self._rect
        return QRectF(r.left(), r.top(), r.width(), FRAME_HEADER - 4)

    def close_button_rect(self) -> QRectF:
        return QRectF(self._button)

    def refresh_title(self) -> None:
        info = self.model.group_info(self.group_id)
        self._title = f"{info.type} · {info.name}" if info.name != info.type else info.type
        self.update()

    def set_rect(self, rect: QRectF) -> None:
        """Place the frame (scene coordinates; the item stays at the origin)."""
        if rect == self._rect:
            return
        self.prepareGeometryChange()
        self._rect = QRectF(rect)
        self._path = QPainterPath()
        self._path.addRoundedRect(rect, _RADIUS, _RADIUS)
        clip = QPainterPath()
        clip.addRect(self.header_rect())
        self._header = self._path.intersected(clip)
        fm = self.style.param_fm
        w = fm.horizontalAdvance(CLOSE_LABEL) + 16
        h = FRAME_HEADER - 12
        self._button = QRectF(rect.right() - w - 8, rect.top() + 4, w, h)
        self.setVisible(not rect.isEmpty())
        self.update()

    def set_style(self, style: CanvasStyle) -> None:
        self.style = style
        self.update()

    def hit(self, pos: QPointF) -> str | None:
        """What a click at scene ``pos`` hits: "close", "header" or None."""
        if not self.isVisible():
            return None
        if self._button.contains(pos):
            return "close"
        if self.header_rect().contains(pos):
            return "header"
        return None

    # -- Qt -----------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-2, -2, 2, 2)

    def shape(self) -> QPainterPath:
        return self._path

    def paint(self, painter, option, widget=None):
        st = self.style
        painter.setPen(Qt.NoPen)
        painter.fillPath(self._path, st.frame_brush)
        painter.fillPath(self._header, st.frame_header_brush)
        painter.setPen(st.frame_pen)
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self._path)
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.3:
            return
        head = self.header_rect()
        painter.setFont(st.frame_title_font)
        painter.setPen(st.title_color)
        room = self._button.left() - head.left() - 24
        painter.drawText(QRectF(head.left() + 12, head.top(), max(room, 0), head.height()),
                         Qt.AlignLeft | Qt.AlignVCenter,
                         st.frame_title_fm.elidedText(self._title, Qt.ElideRight, max(room, 0)))
        r = self._button.height() / 2
        painter.setPen(st.button_pen)
        painter.setBrush(st.button_brush)
        painter.drawRoundedRect(self._button, r, r)
        painter.setFont(st.param_font)
        painter.setPen(st.title_color)
        painter.drawText(self._button, Qt.AlignCenter, CLOSE_LABEL)
