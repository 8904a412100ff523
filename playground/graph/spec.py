"""Declarative node specs: ports, params, shape inference, build and cost.

One :class:`NodeSpec` per node type, kept in :data:`REGISTRY`. The palette, the inspector,
the file format, the summary and the tests all read the registry; adding a node type means
adding one spec (see :mod:`playground.graph.nodes`).

Shapes are tuples whose first entry is ``None`` for the batch dimension N, so
``(None, 128)`` is shown as ``(N, 128)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

Shape = tuple  # (None, *dims): None is the batch dimension N

#: Port kinds. A "tensor" carries float activations; "index" carries integer class labels.
PORT_KINDS = ("tensor", "index", "scalar")
#: Longest ``str`` or ``path`` param value (characters).
MAX_TEXT = 4096


def format_shape(shape: Shape | None) -> str:
    """``(None, 128)`` -> ``"(N, 128)"``; ``()`` -> ``"()"``; None -> ``"?"``."""
    if shape is None:
        return "?"
    dims = ["N" if d is None else str(d) for d in shape]
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(dims) + ")"


@dataclass(frozen=True)
class PortSpec:
    """One input or output port: its name, the kind of data it carries, and a doc line."""

    name: str
    kind: str = "tensor"
    doc: str = ""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a node type.

    ``type`` is one of:

    * ``int``, ``float``: a number; ``low``/``high`` bound it (inclusive).
    * ``bool``: true or false.
    * ``choice``: one of ``choices`` (e.g. ``reduction`` in ``("mean", "sum")``).
    * ``ints``: an int or a tuple of ints, as PyTorch's int-or-pair params (``kernel_size=3``
      or ``kernel_size=(3, 5)``) and shapes (``shape=(-1, 8, 8)``). ``length`` fixes the tuple
      length (2 for a pair) or is None for any length; ``low``/``high`` bound every entry. A
      list (from a JSON file) becomes a tuple; a text such as ``"3, 5"`` or ``"(3, 5)"`` (from
      the inspector) is parsed.
    * ``str``: a line of text (a CSV's column names, an array's key), at most
      :data:`MAX_TEXT` characters, no control characters; surrounding spaces are dropped.
    * ``path``: a file or folder path as text, the same rules as ``str`` (the inspector adds
      a Browse… button). "" means none. A project file stores it relative to the project
      where possible (:mod:`playground.project.format`).

    ``optional`` also allows None (PyTorch's ``None`` defaults: ``MaxPool2d.stride``,
    ``Embedding.padding_idx``); the inspector writes it as an empty field or ``None``.

    ``when``: ``when(params) -> bool``, whether the param applies with the node's other
    params (a Dataset node's ``seq_len`` only with ``dataset="text"``); the inspector and
    the canvas show only the params that apply (:meth:`NodeSpec.shown_params`). None: it
    always applies.
    """

    name: str
    type: str
    default: Any
    doc: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    log_scale: bool = False
    optional: bool = False
    length: int | None = None
    when: Callable[[Mapping[str, Any]], bool] | None = field(default=None, compare=False)

    def coerce(self, value: Any, owner: str = "") -> Any:
        """Return ``value`` converted to this param's type.

        Raises:
            ParamError: the value has the wrong type or lies outside the range; the
                message names the param, the allowed values and what was given.
        """
        where = f"{owner}.{self.name}" if owner else self.name
        if self.optional and (value is None or (isinstance(value, str) and
                                                value.strip() in ("", "None", "none"))):
            return None
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(where, f"{where} must be true or false, got {value!r}")
        if self.type == "choice":
            if value in self.choices:
                return value
            raise ParamError(where, f"{where} must be one of {', '.join(map(str, self.choices))}; "
                                    f"got {value!r}")
        if self.type == "ints":
            return self._coerce_ints(value, where)
        if self.type in ("str", "path"):
            return self._coerce_text(value, where)
        if self.optional and isinstance(value, str):  # typed into a text field
            try:
                value = _parse_number(value)
            except ValueError:
                pass  # refused below with the usual message
        if self.type == "int":
            if not _is_whole(value):
                raise ParamError(where, f"{where} must be a whole number, got {_show(value)}")
            value = int(value)
        elif self.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(where, f"{where} must be a number, got {_show(value)}")
            if not math.isfinite(_to_float(value)):
                raise ParamError(where, f"{where} must be a finite number, got {_show(value)}")
            value = float(value)
        else:  # pragma: no cover - a spec bug, caught by the registry test
            raise ValueError(f"unknown param type {self.type!r}")
        self._check_range(value, where)
        return value

    def _check_range(self, value, where: str) -> None:
        if self.low is not None and value < self.low:
            raise ParamError(where, f"{where} must be ≥ {self.low:g}, got {_show(value)}")
        if self.high is not None and value > self.high:
            raise ParamError(where, f"{where} must be ≤ {self.high:g}, got {_show(value)}")

    def _coerce_text(self, value: Any, where: str) -> str:
        what = "a file path" if self.type == "path" else "text"
        if not isinstance(value, str):
            raise ParamError(where, f"{where} must be {what}, got {_show(value)}")
        if len(value) > MAX_TEXT:
            raise ParamError(where, f"{where} must be at most {MAX_TEXT} characters, got "
                                    f"{len(value)}")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ParamError(where, f"{where} must be one line without control characters, "
                                    f"got {_show(value)}")
        return value.strip()

    def _coerce_ints(self, value: Any, where: str) -> int | tuple:
        want = ("a whole number or a pair such as (3, 3)" if self.length == 2 else
                f"a whole number or {self.length} whole numbers" if self.length else
                "whole numbers such as (1, 8, 8)")
        if isinstance(value, str):
            text = value.strip().strip("()[]").replace(",", " ").split()
            try:
                items = [_parse_number(t) for t in text]
            except ValueError:
                raise ParamError(where, f"{where} must be {want}, got {value!r}") from None
            value = items[0] if len(items) == 1 and "," not in value else tuple(items)
        scalar = not isinstance(value, (list, tuple))
        items = [value] if scalar else list(value)
        if not items or len(items) > 64 or not all(_is_whole(v) for v in items):
            raise ParamError(where, f"{where} must be {want}, got {_show(value)}")
        items = [int(v) for v in items]
        if not scalar and self.length is not None and len(items) != self.length:
            raise ParamError(where, f"{where} must be {want}, got {len(items)} numbers "
                                    f"{tuple(items)}")
        for v in items:
            self._check_range(v, where)
        return items[0] if scalar else tuple(items)


def _to_float(value: int | float) -> float:
    """``float(value)``, with ints too large for a float as infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _is_whole(value: Any) -> bool:
    """An int, or a float with a whole finite value (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


def _show(value: Any) -> str:
    """A value for a message: short, and safe for huge ints (``str`` refuses > 4,300
    digits) and long texts."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        if abs(value) < 10**30:
            return str(value)
        return f"a {len(str(abs(value)))}-digit number" if value.bit_length() < 14_000 \
            else "a number of over 4,000 digits"
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _parse_number(text: str) -> int | float:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5; ValueError otherwise."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


class ParamError(ValueError):
    """A param value that its spec refuses. ``field`` names the param."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Source:
    """Where an input comes from, for messages: the upstream node and port, and the shape."""

    shape: Shape
    node: str          # upstream node's display name
    node_type: str
    port: str
    node_id: str = ""
    meta: Mapping[str, Any] | None = None  # e.g. {"num_classes": 10} for targets


class ShapeError(Exception):
    """Raised by a spec's ``infer`` when its inputs do not fit.

    ``message`` says what was expected, what was got and from where. ``fix`` is an optional
    ``(param, value)`` on this node that would make it valid; the inspector offers it as a
    button.
    """

    def __init__(self, message: str, fix: tuple[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class Cost:
    """Per-example cost of one node: parameter count and multiply-accumulates, each with
    the formula that produced it (textbook notation, e.g. ``C_out*C_in + C_out``)."""

    params: int = 0
    macs: int = 0
    params_formula: str = ""
    macs_formula: str = ""


@dataclass(frozen=True)
class NodeSpec:
    """A node type.

    Attributes:
        type: the registry key and the PyTorch-style class name, e.g. ``"Linear"``.
        category: palette group (Data, Layers, Activations, Losses, ...).
        description: one line for the palette.
        inputs / outputs: port specs, in display order.
        params: param specs, in inspector order.
        infer: ``infer(params, inputs) -> {output port: shape}``. ``inputs`` maps each input
            port to its :class:`Source`. Raises :class:`ShapeError` with an actionable message.
        build: ``build(params, input_shapes) -> nn.Module`` whose ``forward`` takes the input
            ports as keyword arguments and returns a Tensor (one output) or a dict by port.
            None for nodes fed from outside (the Dataset node).
        cost: ``cost(params, input_shapes, output_shapes) -> Cost``.
        is_loss: the node's scalar output is added into the training loss.
    """

    type: str
    category: str
    description: str
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    infer: Callable[[Mapping[str, Any], Mapping[str, Source]], dict] | None = None
    build: Callable[[Mapping[str, Any], Mapping[str, Shape]], Any] | None = None
    cost: Callable[[Mapping[str, Any], Mapping[str, Shape], Mapping[str, Shape]], Cost] | None = None
    is_loss: bool = False
    doc: str = field(default="", compare=False)

    def input(self, name: str) -> PortSpec | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        return next((p for p in self.outputs if p.name == name), None)

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def shown_params(self, params: Mapping[str, Any]) -> tuple[ParamSpec, ...]:
        """The params that apply with these values (see :attr:`ParamSpec.when`), in order."""
        def applies(p: ParamSpec) -> bool:
            try:
                return p.when is None or bool(p.when(params))
            except Exception:  # a half-built params dict: show it
                return True
        return tuple(p for p in self.params if applies(p))

    def validate_params(self, params: Mapping[str, Any], owner: str = "") -> dict[str, Any]:
        """Fill defaults and coerce every value. Raises ParamError on an unknown name or a
        bad value (the message names the field)."""
        owner = owner or self.type
        out = self.default_params()
        for name, value in params.items():
            spec = self.param(name)
            if spec is None:
                known = ", ".join(p.name for p in self.params) or "none"
                raise ParamError(f"{owner}.{name}",
                                 f"{self.type} has no param {name!r} (its params: {known})")
            out[name] = spec.coerce(value, owner)
        return out


class Registry:
    """Node types by name, in registration order."""

    def __init__(self):
        self._specs: dict[str, NodeSpec] = {}

    def register(self, spec: NodeSpec) -> NodeSpec:
        if spec.type in self._specs:
            raise ValueError(f"node type {spec.type!r} is already registered")
        self._specs[spec.type] = spec
        return spec

    def __getitem__(self, type_name: str) -> NodeSpec:
        try:
            return self._specs[type_name]
        except KeyError:
            raise KeyError(f"unknown node type {type_name!r}; known types: "
                           f"{', '.join(self._specs)}") from None

    def __contains__(self, type_name: str) -> bool:
        return type_name in self._specs

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self):
        return len(self._specs)

    def categories(self) -> dict[str, list[NodeSpec]]:
        out: dict[str, list[NodeSpec]] = {}
        for spec in self._specs.values():
            out.setdefault(spec.category, []).append(spec)
        return out


REGISTRY = Registry()
