"""A node on the canvas: a rounded body with a header in its category's colour, input ports
on the left, output ports (with their tensor shapes) on the right, its params, and the
reason when it is invalid.

A closed block (a composite node) is drawn as a small stack of cards, with an "open" button
in its header (double-clicking it opens it too) and a line that says what is inside.

Zoomed out (below :data:`.style.FAR_LOD`) a node draws its far-away form instead: its body
in its category's colour with its type, and its name below, in letters as big as the node
allows, so that a whole ResNet stays readable on one screen.

Layout runs when the node's data changes (:meth:`NodeItem.refresh`) and produces cached
paths and a list of text runs for both forms; :meth:`NodeItem.paint` only replays them.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Iterable, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QLinearGradient, QPainterPath
from PySide6.QtWidgets import QGraphicsItem, QStyle, QStyleOptionGraphicsItem

from playground.graph import GraphModel, format_shape

from .style import (BADGE_RADIUS, CORNER, ERROR_LINE_HEIGHT, FAR_LOD, FAR_NAME_RATIO, FAR_TITLE_MAX,
                    HEADER_HEIGHT, LABEL_INSET, NODE_MIN_WIDTH, PAD, PARAM_ROW_HEIGHT, PORT_RADIUS,
                    PORT_ROW_HEIGHT, PREVIEW_HEIGHT, CanvasStyle)

if TYPE_CHECKING:
    from .wire_item import WireItem

NODE_MAX_WIDTH = 300.0
OPEN_LABEL = "open ⤢"
STACK_STEP = 3.5   # offset of the cards behind a closed block
MAX_ERROR_LINES = 3
_GLOW_MARGIN = 10.0
_LEFT = int(Qt.AlignLeft | Qt.AlignVCenter)
_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)
_CENTER = int(Qt.AlignCenter)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+")


def format_value(value) -> str:
    """A param value as the node shows it: ``True`` -> ``"true"``, ``0.1`` -> ``"0.1"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def title_lines(type_name: str) -> list[list[str]]:
    """The ways to write a node type in the far-away form: on one line, or split in two
    before a capital of its CamelCase, leaving three letters or more on each line
    (``"SinusoidalPositionalEncoding"`` -> ``["SinusoidalPositional", "Encoding"]``, ...;
    ``"Conv2d"`` and ``"ReLU"`` stay whole)."""
    words = _WORD.findall(type_name)
    if "".join(words) != type_name:  # not plain CamelCase: keep it whole
        words = [type_name]
    out = [[type_name]]
    for k in range(1, len(words)):
        head, tail = "".join(words[:k]), "".join(words[k:])
        if len(head) >= 3 and len(tail) >= 3:
            out.append([head, tail])
    return out


def wrap_text(text: str, fm, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap of ``text`` into at most ``max_lines`` lines of ``width`` pixels;
    the last line is elided with "…" when text remains."""
    words = text.split()
    lines: list[str] = []
    line = ""
    i = 0
    while i < len(words):
        trial = f"{line} {words[i]}" if line else words[i]
        if fm.horizontalAdvance(trial) <= width or not line:
            line = trial
            i += 1
            continue
        lines.append(line)
        line = ""
        if len(lines) == max_lines:
            break
    if line and len(lines) < max_lines:
        lines.append(line)
        line = ""
    if i < len(words) or line:
        rest = " ".join([lines[-1], *words[i:]]) if lines else " ".join(words[i:])
        lines[-1] = fm.elidedText(rest, Qt.ElideRight, width)
    return [fm.elidedText(l, Qt.ElideRight, width) for l in lines]


class PortItem(QGraphicsItem):
    """A port circle, a child of its :class:`NodeItem`. Its hit area is larger than the circle
    so that wires are easy to drop on it."""

    HIT_RADIUS = 10.0

    def __init__(self, node: "NodeItem", name: str, output: bool, kind: str, doc: str):
        super().__init__(node)
        self.node = node
        self.name = name
        self.is_output = output
        self.kind = kind
        self.doc = doc
        self._hot = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CrossCursor)
        self.setZValue(1)

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def set_hot(self, hot: bool) -> None:
        """Emphasise the port (under the cursor, or a drop target of a wire being drawn)."""
        if hot != self._hot:
            self._hot = hot
            self.update()

    def is_hot(self) -> bool:
        return self._hot

    def boundingRect(self) -> QRectF:
        r = self.HIT_RADIUS
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(self.boundingRect())
        return path

    def paint(self, painter, option, widget=None):
        style = self.node.style
        r = PORT_RADIUS + (1.5 if self._hot else 0.0)
        painter.setPen(style.port_hover_pen if self._hot else style.port_outline_pen)
        painter.setBrush(style.port_color(self.kind))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event):
        self.set_hot(True)

    def hoverLeaveEvent(self, event):
        self.set_hot(False)


class NodeItem(QGraphicsItem):
    """The view of one model node. It reads the model; it never edits it.

    ``pos()`` is the node's top-left corner and equals ``model.node(id)["pos"]``.
    """

    def __init__(self, model: GraphModel, node_id: str, style: CanvasStyle):
        super().__init__()
        self.model = model
        self.node_id = node_id
        self.style = style
        self.wires: set[WireItem] = set()
        self._wiring_error = ""
        self._highlight = False
        self._backward = False
        self._badges: list[tuple[str, str]] = []   # (kind, text): health marks
        self._preview: list[float] | None = None
        self._width = NODE_MIN_WIDTH
        self._height = HEADER_HEIGHT
        self._rect = QRectF()
        self._bounds = QRectF()
        self._body = QPainterPath()
        self._header = QPainterPath()
        self._shadow = QPainterPath()
        self._outer = QPainterPath()
        self._stack: list[QPainterPath] = []
        self._header_brush = QBrush()
        self._texts: list[tuple] = []       # (font, color, rect, flags, text)
        self._far_texts: list[tuple] = []   # the same, for the far-away form
        self._far_brush = QBrush()
        self._dividers: list[float] = []    # y of thin lines between sections
        self._preview_path = QPainterPath()
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}

        self.is_block = model.is_composite(node_id)
        self._open_rect = QRectF()
        for p in model.input_ports(node_id):
            self.inputs[p.name] = PortItem(self, p.name, False, p.kind, p.doc)
        for p in model.output_ports(node_id):
            self.outputs[p.name] = PortItem(self, p.name, True, p.kind, p.doc)

        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        x, y = model.node(node_id)["pos"]
        self.setPos(x, y)
        self.refresh()

    # -- public API ---------------------------------------------------------------------

    def error_text(self) -> str:
        """The wiring error shown on the node, else its shape-inference message when it is
        invalid, else ""."""
        if self._wiring_error:
            return self._wiring_error
        state = self.model.state(self.node_id)
        return state.message if state.status == "error" else ""

    def is_invalid(self) -> bool:
        return bool(self._wiring_error) or self.model.state(self.node_id).status == "error"

    def is_blocked(self) -> bool:
        return not self._wiring_error and self.model.state(self.node_id).status == "blocked"

    def set_highlight(self, on: bool, backward: bool = False) -> None:
        """Glow (the node being stepped through): in the theme's glow colour for a forward
        step, in the gradient's colour for a backward one."""
        if on != self._highlight or (on and backward != self._backward):
            self._highlight = on
            self._backward = backward
            self.update()

    def is_backward_highlight(self) -> bool:
        return self._highlight and self._backward

    def set_badges(self, badges: Sequence[tuple[str, str]]) -> None:
        """Health marks on the node's top-right corner: ``(kind, text)`` pairs with kind
        ``"dead"`` or ``"saturated"``; the texts go in the tooltip. Empty clears."""
        badges = [(k, t) for k, t in badges]
        if badges != self._badges:
            self._badges = badges
            self.setToolTip(self._tooltip(self.model.spec(self.node_id),
                                          self.model.name(self.node_id),
                                          self.model.state(self.node_id)))
            self.update()

    def badges(self) -> list[tuple[str, str]]:
        return list(self._badges)

    def is_highlighted(self) -> bool:
        return self._highlight

    def set_wiring_error(self, message: str) -> None:
        """Show a rejected connection's message on the node; "" clears it."""
        if message != self._wiring_error:
            self._wiring_error = message
            self.refresh()

    def set_preview(self, values: Sequence[float] | None) -> None:
        """Show a sparkline of ``values`` (e.g. the activation mean over steps); None hides it."""
        values = None if values is None or len(values) == 0 else [float(v) for v in values]
        if values != self._preview:
            self._preview = values
            self.refresh()

    def port(self, name: str, output: bool) -> PortItem:
        return (self.outputs if output else self.inputs)[name]

    def ports(self) -> Iterable[PortItem]:
        yield from self.inputs.values()
        yield from self.outputs.values()

    def port_scene_pos(self, name: str, output: bool) -> QPointF:
        return self.mapToScene(self.port(name, output).pos())

    def size(self) -> tuple[float, float]:
        return self._width, self._height

    def body_rect(self) -> QRectF:
        """The node's body in item coordinates (without the glow and the shadow)."""
        return QRectF(self._rect)

    def open_button_rect(self) -> QRectF:
        """A closed block's "open" button in item coordinates (empty for other nodes)."""
        return QRectF(self._open_rect)

    def set_style(self, style: CanvasStyle) -> None:
        self.style = style
        self.refresh()

    # -- layout -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the model (name, params, state) and lay the node out again."""
        st = self.style
        model, nid = self.model, self.node_id
        spec = model.spec(nid)
        name = model.name(nid)
        params = model.params(nid)
        state = model.state(nid)
        self.shown_state = state
        outputs = state.outputs if state.ok else {}

        # width: wide enough for the header and for each port row
        button_w = st.param_fm.horizontalAdvance(OPEN_LABEL) + 14 if self.is_block else 0.0
        width = st.title_fm.horizontalAdvance(spec.type) + st.name_fm.horizontalAdvance(name) \
            + 3 * PAD + 14 + button_w
        ins, outs = list(model.input_ports(nid)), list(model.output_ports(nid))
        rows = max(len(ins), len(outs))
        for i in range(rows):
            w = 2 * LABEL_INSET + 14
            if i < len(ins):
                w += st.port_fm.horizontalAdvance(ins[i].name)
            if i < len(outs):
                w += st.port_fm.horizontalAdvance(outs[i].name)
                if outs[i].name in outputs:
                    w += st.shape_fm.horizontalAdvance(format_shape(outputs[outs[i].name])) + 6
            width = max(width, w)
        shown = spec.shown_params(params)  # those that apply (a Dataset's, by dataset)
        for p in shown:
            value_w = st.param_fm.horizontalAdvance(format_value(params[p.name]))
            width = max(width, st.param_fm.horizontalAdvance(p.name) + value_w + 2 * PAD + 22)
        width = min(max(NODE_MIN_WIDTH, width), NODE_MAX_WIDTH)
        width = float(round(width / 4) * 4)  # tidy edges

        texts: list[tuple] = []
        dividers: list[float] = []
        # header: type, then the name, right-aligned and dimmer
        type_w = st.title_fm.horizontalAdvance(spec.type)
        texts.append((st.title_font, st.title_color, QRectF(PAD + 3, 0, type_w + 2, HEADER_HEIGHT),
                      _LEFT, spec.type))
        name_room = width - type_w - 3 * PAD - 8 - button_w
        name_col = QColor(st.title_color)
        name_col.setAlpha(185)
        if name_room > 12:
            texts.append((st.name_font, name_col,
                          QRectF(width - PAD - 3 - name_room - button_w, 0, name_room,
                                 HEADER_HEIGHT), _RIGHT,
                          st.name_fm.elidedText(name, Qt.ElideRight, name_room)))
        if self.is_block:
            self._open_rect = QRectF(width - PAD - button_w + 4, 5, button_w - 4,
                                     HEADER_HEIGHT - 10)
        else:
            self._open_rect = QRectF()

        # port rows
        y = HEADER_HEIGHT + 4
        for i in range(rows):
            cy = y + PORT_ROW_HEIGHT * (i + 0.5)
            rect = QRectF(LABEL_INSET, cy - PORT_ROW_HEIGHT / 2, width - 2 * LABEL_INSET,
                          PORT_ROW_HEIGHT)
            if i < len(ins):
                self.inputs[ins[i].name].setPos(0, cy)
                texts.append((st.port_font, st.text_color, rect, _LEFT, ins[i].name))
            if i < len(outs):
                port = outs[i].name
                self.outputs[port].setPos(width, cy)
                texts.append((st.port_font, st.text_color, rect, _RIGHT, port))
                if port in outputs:
                    shape_rect = QRectF(rect)
                    shape_rect.setRight(rect.right() - st.port_fm.horizontalAdvance(port) - 6)
                    texts.append((st.shape_font, st.shape_color, shape_rect, _RIGHT,
                                  format_shape(outputs[port])))
        y += rows * PORT_ROW_HEIGHT + 2

        # params: name on the left, value on the right
        if shown:
            y += 3
            dividers.append(y)
            y += 3
            for p in shown:
                rect = QRectF(PAD + 3, y, width - 2 * PAD - 6, PARAM_ROW_HEIGHT)
                value = format_value(params[p.name])
                texts.append((st.param_font, st.dim_color, rect, _LEFT, p.name))
                room = width - 2 * PAD - 12 - st.param_fm.horizontalAdvance(p.name)
                texts.append((st.param_font, st.text_color, rect, _RIGHT,
                              st.param_fm.elidedText(value, Qt.ElideRight, room)))
                y += PARAM_ROW_HEIGHT

        # a closed block: what is inside
        if self.is_block:
            sub = model.subgraph(nid)
            y += 3
            dividers.append(y)
            y += 3
            count = sub.leaf_count()
            inside = f"{count} node{'s' if count != 1 else ''} inside · double-click to open"
            texts.append((st.param_font, st.dim_color,
                          QRectF(PAD + 3, y, width - 2 * PAD - 6, PARAM_ROW_HEIGHT), _LEFT,
                          st.param_fm.elidedText(inside, Qt.ElideRight, width - 2 * PAD - 6)))
            y += PARAM_ROW_HEIGHT

        # the reason it is invalid (or blocked), short; the tooltip has all of it
        message, color = "", st.error_color
        if self.is_invalid():
            message = self._short(self.error_text(), spec.type, name)
        elif state.status == "blocked":
            message, color = state.message, st.blocked_color
        if message:
            y += 3
            dividers.append(y)
            y += 3
            for line in wrap_text(("⚠ " if color is st.error_color else "") + message,
                                  st.error_fm, width - 2 * PAD - 4, MAX_ERROR_LINES):
                texts.append((st.error_font, color,
                              QRectF(PAD + 2, y, width - 2 * PAD - 4, ERROR_LINE_HEIGHT), _LEFT,
                              line))
                y += ERROR_LINE_HEIGHT

        # sparkline preview
        self._preview_path = QPainterPath()
        if self._preview:
            y += 4
            self._preview_path = self._sparkline(self._preview, QRectF(PAD + 2, y,
                                                                       width - 2 * PAD - 4,
                                                                       PREVIEW_HEIGHT - 6))
            y += PREVIEW_HEIGHT - 2
        height = y + PAD - 1

        if (width, height) != (self._width, self._height) or self._body.isEmpty():
            self.prepareGeometryChange()
            self._width, self._height = width, height
            self._rect = QRectF(0, 0, width, height)
            self._bounds = self._rect.adjusted(-_GLOW_MARGIN, -_GLOW_MARGIN, _GLOW_MARGIN,
                                               _GLOW_MARGIN + 4)
            self._body = QPainterPath()
            self._body.addRoundedRect(self._rect, CORNER, CORNER)
            clip = QPainterPath()
            clip.addRect(QRectF(0, 0, width, HEADER_HEIGHT))
            self._header = self._body.intersected(clip)
            self._shadow = self._body.translated(0, 3)
            self._outer = QPainterPath()
            self._outer.addRoundedRect(self._rect.adjusted(-3.5, -3.5, 3.5, 3.5), CORNER + 3,
                                       CORNER + 3)
            self._stack = [self._body.translated(STACK_STEP * k, STACK_STEP * k)
                           for k in (2, 1)] if self.is_block else []
            for wire in self.wires:  # the ports moved with the edges
                wire.update_path()
            scene = self.scene()
            if scene is not None and hasattr(scene, "node_geometry_changed"):
                scene.node_geometry_changed(self.node_id)
        base = st.category_color(spec.category)
        grad = QLinearGradient(0, 0, 0, HEADER_HEIGHT)
        grad.setColorAt(0.0, base.lighter(118))
        grad.setColorAt(1.0, base)
        self._header_brush = QBrush(grad)
        self._far_brush = QBrush(base)
        self._far_texts = self._far_layout(spec.type, name)
        self._texts = texts
        self._dividers = dividers
        self.setToolTip(self._tooltip(spec, name, state))
        self.update()

    def _far_layout(self, type_name: str, name: str) -> list[tuple]:
        """The far-away form's text runs: the type as big as the node's width and height
        allow (on one line, or two at a CamelCase word if that is bigger), and the name
        below it, smaller, when there is room and it differs from the type."""
        st = self.style
        room_w = self._width - 2 * PAD - 6
        room_h = self._height - 2 * PAD
        _, probe = st.far_font(100.0)
        show_name = bool(name) and name.lower() != type_name.lower()
        best = None
        for lines in title_lines(type_name):
            widest = max(probe.horizontalAdvance(line) for line in lines)
            size = min(FAR_TITLE_MAX, 100.0 * room_w / widest)
            rows = len(lines) + (FAR_NAME_RATIO if show_name else 0.0)
            size = min(size, room_h / (1.15 * rows))
            if best is None or size > best[0] * 1.15:  # one line unless two are clearly bigger
                best = (size, lines)
        size, lines = best
        size = max(1.0, math.floor(size))
        font, fm = st.far_font(size)
        while size > 6 and max(fm.horizontalAdvance(line) for line in lines) > room_w:
            size -= 1  # glyph widths do not scale exactly with the size
            font, fm = st.far_font(size)
        line_h = fm.height()
        name_font, name_fm = st.far_font(size * FAR_NAME_RATIO, bold=False)
        if show_name and len(lines) * line_h + name_fm.height() > room_h + 1:
            show_name = False
        block = len(lines) * line_h + (name_fm.height() if show_name else 0.0)
        y = (self._height - block) / 2
        texts = []
        for line in lines:
            texts.append((font, st.title_color, QRectF(PAD + 3, y, room_w, line_h), _CENTER,
                          fm.elidedText(line, Qt.ElideRight, room_w)))
            y += line_h
        if show_name:
            name_col = QColor(st.title_color)
            name_col.setAlpha(200)
            texts.append((name_font, name_col, QRectF(PAD + 3, y, room_w, name_fm.height()),
                          _CENTER, name_fm.elidedText(name, Qt.ElideRight, room_w)))
        return texts

    def far_texts(self) -> list[str]:
        """The texts of the far-away form, top to bottom (the type, maybe on two lines,
        then the name)."""
        return [text for *_, text in self._far_texts]

    @staticmethod
    def _short(message: str, type_name: str, name: str) -> str:
        for prefix in (f"{type_name} '{name}': ", f"{type_name} '{name}' "):
            if message.startswith(prefix):
                return message[len(prefix):]
        return message

    def _tooltip(self, spec, name, state) -> str:
        text = self._base_tooltip(spec, name, state)
        if self._badges:
            text += "\n\n" + "\n".join(("⛔ " if k == "dead" else "⚠ ") + t
                                         for k, t in self._badges)
        return text

    def _base_tooltip(self, spec, name, state) -> str:
        if self.is_invalid():
            return self.error_text()
        if state.status == "blocked":
            return state.message
        if self.is_block:
            return f"{spec.type} '{name}': {spec.description} Double-click to open it."
        return f"{spec.type} '{name}': {spec.description}"

    @staticmethod
    def _sparkline(values: list[float], rect: QRectF) -> QPainterPath:
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        n = max(len(values) - 1, 1)
        path = QPainterPath()
        for i, v in enumerate(values):
            pt = QPointF(rect.left() + rect.width() * i / n,
                         rect.bottom() - rect.height() * (v - lo) / span)
            path.lineTo(pt) if i else path.moveTo(pt)
        return path

    # -- Qt -----------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._body

    def paint(self, painter, option: QStyleOptionGraphicsItem, widget=None):
        st = self.style
        selected = bool(option.state & QStyle.State_Selected)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < FAR_LOD:
            self._paint_far(painter, selected)
            return
        self._paint_backdrop(painter)
        painter.fillPath(self._body, st.body_brush)
        painter.fillPath(self._header, self._header_brush)
        if not self._open_rect.isEmpty():
            r = self._open_rect.height() / 2
            painter.setPen(st.button_pen)
            painter.setBrush(st.button_brush)
            painter.drawRoundedRect(self._open_rect, r, r)
            painter.setBrush(Qt.NoBrush)
            painter.setFont(st.param_font)
            painter.setPen(st.title_color)
            painter.drawText(self._open_rect, Qt.AlignCenter, OPEN_LABEL)

        painter.setPen(st.divider_pen)
        for y in self._dividers:
            painter.drawLine(QPointF(1, y), QPointF(self._width - 1, y))
        self._paint_texts(painter, self._texts)
        if not self._preview_path.isEmpty():
            painter.setPen(st.preview_pen)
            painter.drawPath(self._preview_path)
        self._paint_outline(painter, selected, far=False)

    def _paint_far(self, painter, selected: bool) -> None:
        """The far-away form: the body in the category's colour, big type and name,
        outlines a fixed number of screen pixels wide."""
        self._paint_backdrop(painter)
        painter.fillPath(self._body, self._far_brush)
        self._paint_texts(painter, self._far_texts)
        self._paint_outline(painter, selected, far=True)

    def _paint_backdrop(self, painter) -> None:
        """What lies behind the body: the glow of a stepped node (else its shadow), and a
        closed block's cards."""
        st = self.style
        painter.setPen(Qt.NoPen)
        painter.setBrush(Qt.NoBrush)
        if self._highlight:
            for pen in (st.grad_glow_pens if self._backward else st.glow_pens):
                painter.strokePath(self._body, pen)
        else:
            painter.fillPath(self._shadow, st.shadow_brush)
        for card in self._stack:  # a closed block: the cards behind it
            painter.fillPath(card, st.stack_brush)
            painter.strokePath(card, st.stack_pen)

    @staticmethod
    def _paint_texts(painter, texts) -> None:
        for font, color, rect, flags, text in texts:
            painter.setFont(font)
            painter.setPen(color)
            painter.drawText(rect, flags, text)

    def _paint_outline(self, painter, selected: bool, far: bool) -> None:
        """The outline (red when invalid, the selection's, dimmed when blocked) and the
        badges; ``far`` takes the far-away form's screen-width pens."""
        st = self.style
        error, selection, blocked, border = (
            (st.far_error_pen, st.far_selection_pen, st.far_blocked_pen, st.far_border_pen)
            if far else (st.error_pen, st.selection_pen, st.blocked_pen, st.border_pen))
        if self.is_invalid():
            painter.strokePath(self._body, error)
            if selected:
                painter.strokePath(self._outer, selection)
        elif selected:
            painter.strokePath(self._body, selection)
        elif self.is_blocked():
            painter.strokePath(self._body, blocked)
        else:
            painter.strokePath(self._body, border)
        if self._badges:
            self._paint_badges(painter)

    def is_far(self, view) -> bool:
        """True when ``view`` (a QGraphicsView) shows this node in its far-away form."""
        t = self.deviceTransform(view.viewportTransform())
        return QStyleOptionGraphicsItem.levelOfDetailFromTransform(t) < FAR_LOD

    def _paint_badges(self, painter) -> None:
        st = self.style
        r = BADGE_RADIUS
        x = self._width - 2
        painter.setFont(st.badge_font)
        for kind, _ in self._badges:
            centre = QPointF(x, -1)
            painter.setPen(st.badge_pen)
            painter.setBrush(st.badge_colors.get(kind, st.error_color))
            painter.drawEllipse(centre, r, r)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r),
                             Qt.AlignCenter, "✕" if kind == "dead" else "!")
            x -= 2 * r + 3
        painter.setBrush(Qt.NoBrush)

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionHasChanged:
            for wire in self.wires:
                wire.update_path()
            scene = self.scene()
            if scene is not None and hasattr(scene, "node_geometry_changed"):
                scene.node_geometry_changed(self.node_id)
        elif change == QGraphicsItem.ItemSelectedHasChanged:
            self.setZValue(1 if value else 0)  # a selected node is drawn over the others
        return super().itemChange(change, value)
