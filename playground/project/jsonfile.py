"""A bounded JSON reader for project files.

``json.loads`` alone lets a hostile file cost a lot or escape as the wrong exception:
100,000 nested brackets raise RecursionError, a 5,000-digit integer raises ValueError (or
costs quadratic time), ``NaN``, ``Infinity`` and ``1e999`` become non-finite floats that
reach the graph, and a lone surrogate escape (``"\\ud800"``) makes a string that cannot be
saved again. :func:`read_json` refuses each of these with a :class:`ProjectError` that names
the field (``graph.nodes[3].params.in_features``) or, for syntax, the line and column.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ProjectError
from .limits import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, MAX_PROJECT_BYTES, open_regular

# A JSON string (no raw newline inside one: JSON forbids control characters in strings).
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


class _Refused:
    """Stands in for a value the parser must not keep; the walk reports it with its path."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why


def _parse_int(text: str):
    if len(text) > MAX_NUMBER_CHARS:
        return _Refused(f"a {len(text.lstrip('-'))}-digit number is too large (numbers here "
                        f"have at most {MAX_NUMBER_CHARS} characters)")
    return int(text)


def _parse_float(text: str):
    if len(text) > MAX_NUMBER_CHARS:
        return _Refused(f"a number written with {len(text)} characters is too long (at most "
                        f"{MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):
        return _Refused(f"{text} is out of range: it does not fit a floating-point number")
    return value


def _parse_constant(text: str):
    return _Refused(f"{text} is not a number JSON allows; numbers must be finite")


def _pairs(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        out[key] = _Refused(f"the key {key!r} appears twice in one object") if key in out \
            else value
    return out


def _depth(text: str) -> tuple[int, int]:
    """Deepest nesting of ``[``/``{`` outside strings, and the line where it is reached
    (JSON strings hold no raw newline, so lines are the same with strings blanked)."""
    bare = _STRING.sub('""', text)
    codes = np.frombuffer(bare.encode("ascii", "replace"), dtype=np.uint8)
    opens = (codes == ord("[")) | (codes == ord("{"))
    where = np.flatnonzero(opens | (codes == ord("]")) | (codes == ord("}")))
    if where.size == 0:
        return 0, 1
    level = np.cumsum(np.where(opens[where], 1, -1).astype(np.int32))
    at = int(np.argmax(level))
    return int(level[at]), bare.count("\n", 0, int(where[at])) + 1


def _field(path: list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _check(value: Any) -> None:
    """Walk the parsed document (iteratively) for refused values and unsavable strings."""
    stack: list[tuple[Any, list]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, _Refused):
            where = _field(path) or "the file"
            raise ProjectError(f"{where}: {item.why}", _field(path))
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict):
            for key, v in item.items():
                _check_text(key, path + [key])
                stack.append((v, path + [key]))
        elif isinstance(item, list):
            stack.extend((v, path + [i]) for i, v in enumerate(item))


def _check_text(text: str, path: list) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = _field(path) or "the file"
        raise ProjectError(f"{where}: holds a lone surrogate escape "
                           f"({text[exc.start]!r}), which is not text", _field(path)) from None


def parse_json(text: str, name: str = "the file") -> Any:
    """Parse project JSON text with the limits above.

    Raises:
        ProjectError: invalid JSON (line and column), nesting deeper than
            :data:`MAX_JSON_DEPTH`, a non-finite or over-long number, a duplicate key, or a
            lone surrogate; the field is named where there is one.
    """
    depth, line = _depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ProjectError(f"{name}: nested {depth} levels deep (line {line}); a project "
                           f"nests at most {MAX_JSON_DEPTH} levels of [ ] and {{ }}")
    try:
        raw = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                         parse_constant=_parse_constant, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                           f"{exc.msg}). The file may be truncated.") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ProjectError(f"{name}: nested too deeply") from None
    try:
        _check(raw)
    except ProjectError as exc:
        raise ProjectError(f"{name}: {exc.message}", exc.field) from None
    return raw


def read_json(path: Path) -> Any:
    """Read and parse a project file: a regular file of at most :data:`MAX_PROJECT_BYTES`,
    UTF-8 (a byte-order mark is allowed), parsed by :func:`parse_json`.

    Raises:
        ProjectError: the message starts with the path.
    """
    with open_regular(path, MAX_PROJECT_BYTES, "project file") as f:
        try:
            data = f.read(MAX_PROJECT_BYTES + 1)
        except OSError as exc:
            raise ProjectError(f"{path}: cannot read the file: {exc}") from None
    if len(data) > MAX_PROJECT_BYTES:
        raise ProjectError(f"{path}: the project file is larger than {MAX_PROJECT_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ProjectError(f"{path}: not UTF-8 text (byte {exc.start}, line {line}: "
                           f"{exc.reason}). Save the file as UTF-8.") from None
    return parse_json(text, str(path))
