"""The node canvas: a QGraphicsScene that mirrors a GraphModel, and the view that edits it
through undo commands.

- :class:`CanvasView` (view.py): the widget; zoom, pan, delete, drops, quick-add.
- :class:`CanvasScene` (scene.py): items for the model's nodes and wires, kept in sync by
  the model's events.
- :class:`NodeItem`, :class:`PortItem` (node_item.py), :class:`WireItem` (wire_item.py),
  :class:`GroupFrameItem` (frame_item.py: the frame around an open block).
- interactions.py: one class per mouse gesture (new wire, move nodes, pan).
"""

from .frame_item import GroupFrameItem
from .interactions import (FrameDragInteraction, Interaction, MoveNodesInteraction,
                           NewWireInteraction, PanInteraction)
from .node_item import NodeItem, PortItem
from .scene import CanvasScene
from .view import NODE_MIME, CanvasView
from .wire_item import WireItem

__all__ = ["NODE_MIME", "CanvasScene", "CanvasView", "FrameDragInteraction", "GroupFrameItem",
           "Interaction", "MoveNodesInteraction",
           "NewWireInteraction", "NodeItem", "PanInteraction", "PortItem", "WireItem"]
