"""What the user drew: node specs, GraphModel, shape inference, compile and summary."""

from . import nodes as _nodes  # noqa: F401  (registers the node types)
from . import blocks as _blocks  # noqa: F401  (registers the composite blocks)
from .compile import CompileError, Program, Trace, compile
from .composite import CompositeError, CompositeSpec, Subgraph, is_composite
from .layout import layout
from .model import (CycleError, Edge, GraphFormatError, GraphModel, GroupInfo, NodeRecord,
                    NodeState, PortKindError, PortTakenError, Replacement, UnknownPortError,
                    WiringError)
from .nodes import dataset_of
from .spec import (REGISTRY, Cost, NodeSpec, ParamError, ParamSpec, PortSpec, ShapeError,
                   format_shape)
from .summary import Summary, SummaryRow, summary

__all__ = [
    "REGISTRY", "CompileError", "CompositeError", "CompositeSpec", "GroupInfo", "Replacement",
    "Subgraph", "is_composite", "layout", "Cost", "CycleError", "Edge", "GraphFormatError", "GraphModel",
    "NodeRecord", "NodeSpec", "NodeState", "ParamError", "ParamSpec", "PortKindError",
    "PortSpec", "PortTakenError", "Program", "ShapeError", "Summary", "SummaryRow", "Trace",
    "UnknownPortError", "WiringError", "compile", "dataset_of", "format_shape", "summary",
]
