"""Writing the PyTorch code export: the :class:`Writer` turns scopes into ``model.py``'s
classes (constructors, ``forward()`` one line per node) and wraps long lines."""

from __future__ import annotations

from playground.graph.spec import REGISTRY

from .pytorch_nodes import MAPPINGS, Inputs, NodeCode, lit
from .pytorch_scopes import RESERVED, Item, Namer, Scope, _var, class_name


# ---------------------------------------------------------------------------- writing


class Writer:
    """Collects the classes and helpers of model.py; one class per distinct body."""

    def __init__(self):
        self.classes: list[tuple[str, str]] = []    # (name, source)
        self.bodies: dict[str, str] = {}            # body -> class name
        self.first: dict[str, Scope] = {}           # title -> first scope with that title
        self.names = Namer(RESERVED)
        self.helpers: set[str] = set()
        self.uses_functional = False

    def class_for(self, scope: Scope) -> str:
        for item in scope.items:
            if item.scope is not None:
                item.scope.class_name = self.class_for(item.scope)
        body = self.body(scope)
        if body in self.bodies:
            return self.bodies[body]
        base = class_name(scope.title)
        if base in self.first:
            base = base + _variant(self.first[base], scope)
        else:
            self.first[base] = scope
        name = self.names(base) if base not in self.names.taken else self._numbered(base)
        self.bodies[body] = name
        self.classes.append((name, body.replace("@CLASS@", name)))
        return name

    def _numbered(self, base: str) -> str:
        k = 2
        while f"{base}{k}" in self.names.taken:
            k += 1
        self.names.taken.add(f"{base}{k}")
        return f"{base}{k}"

    # -- one class ---------------------------------------------------------------------

    def node_code(self, scope: Scope, item: Item) -> tuple[str | None, str, str]:
        """(constructor, right-hand side, left-hand side) of one item."""
        ins = {port: _var(scope, ref) for port, ref in item.inputs.items()}
        if item.scope is not None:
            child = item.scope
            ctor = f"{child.class_name}(" + ", ".join(
                f"{k}={lit(item.params.get(k, child.ctor_values.get(k)))}"
                for k in child.ctor_params) + ")"
            args = ", ".join(ins.get(a) or ins.get("input" if a == "x" else a, "None")
                             for a in child.args)
            rhs = f"self.{item.attr}({args})"
            lhs = ", ".join(item.vars.get(p, "_") for p in item.ports) if len(item.ports) > 1 \
                else next(iter(item.vars.values()), "_")
            return ctor, rhs, lhs
        code: NodeCode = MAPPINGS[item.type](item.params, Inputs(ins, used=set(item.vars)))
        self.helpers.update(code.helpers)
        if "F." in code.rhs:
            self.uses_functional = True
        rhs = code.rhs.replace("{self}", f"self.{item.attr}")
        if code.lhs == "*":
            lhs = ", ".join(item.vars.get(p, "_") for p in item.ports)
        elif code.lhs:
            fields = {p: item.vars.get(p, "_") for p in _type_ports(item.type)}
            lhs = code.lhs.format(**fields)
        else:
            lhs = next(iter(item.vars.values()), "_")
        return code.module, rhs, lhs

    def body(self, scope: Scope, stages: list | None = None, loss_notes: list[str] = ()
             ) -> str:
        lines = [f"class @CLASS@(nn.Module):"]
        if scope.doc:
            lines.append(f'    """{scope.doc}"""')
            lines.append("")
        if scope.outputs and len(scope.outputs) > 1:
            names = tuple(_var(scope, r) for _, r in scope.outputs)
            lines.append(f"    output_names = {names!r}")
            lines.append("")
        sig = ", ".join(["self"] + scope.ctor_params)
        lines.append(f"    def __init__({sig}):")
        lines.append("        super().__init__()")
        lines.extend(f"        # {note}" for note in loss_notes)
        codes = {}
        for item in scope.items:
            codes[item.key] = self.node_code(scope, item)
            ctor = codes[item.key][0]
            if ctor is not None:
                lines.extend(wrap(f"        self.{item.attr} = {ctor}"))
        args = ", ".join(["self"] + [scope.arg_vars[a] for a in scope.args])
        if stages:
            for method, members, m_args, m_outs in stages:
                lines.append("")
                lines.append(f"    def {method}(self, {', '.join(m_args)}):")
                for item in members:
                    _, rhs, lhs = codes[item.key]
                    lines.extend(wrap(f"        {lhs} = {rhs}"))
                lines.append(f"        return {', '.join(m_outs)}")
        lines.append("")
        lines.append(f"    def forward({args}):")
        staged = {i.key for _, members, _, _ in (stages or []) for i in members}
        done_stage = set()
        for item in scope.items:
            if item.key in staged:
                method, _, m_args, m_outs = next(
                    s for s in stages if any(m.key == item.key for m in s[1]))
                if method not in done_stage:
                    done_stage.add(method)
                    lines.append(f"        {', '.join(m_outs)} = self.{method}("
                                 f"{', '.join(m_args)})")
                continue
            _, rhs, lhs = codes[item.key]
            lines.extend(wrap(f"        {lhs} = {rhs}"))
        outs = [_var(scope, r) for _, r in scope.outputs]
        lines.append(f"        return {', '.join(outs) if outs else 'None'}")
        return "\n".join(lines) + "\n"


def wrap(line: str, width: int = 99) -> list[str]:
    """``line`` broken after the commas of its last top-level call when it is longer than
    ``width``, continuation lines aligned with the opening parenthesis (PEP 8)."""
    if len(line) <= width or not line.endswith(")"):
        return [line]
    depth, opening = 0, None
    for i in range(len(line) - 1, -1, -1):  # the "(" matching the final ")"
        ch = line[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            depth -= 1
            if depth == 0:
                opening = i
                break
    if opening is None:
        return [line]
    inner, parts, depth, start = line[opening + 1:-1], [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    pad = " " * (opening + 1)
    lines, current = [], line[:opening + 1]
    for k, part in enumerate(parts):
        piece = part + ("," if k < len(parts) - 1 else ")")
        if current.strip() and len(current) + len(piece) + 1 > width and \
                not current.endswith("("):
            lines.append(current.rstrip())
            current = pad + piece
        else:
            current += ("" if current.endswith("(") else " ") + piece
    lines.append(current)
    return lines


def _type_ports(type_name: str) -> tuple[str, ...]:
    """Every output port of a node type (the unused ones are written ``_``)."""
    return tuple(p.name for p in REGISTRY[type_name].outputs)


def _variant(first: Scope, scope: Scope) -> str:
    """How a second class of one block type is told from the first by name: a switch it
    has the other way (``NotCausal``), a size that shapes it (``NumLayers12``), or the
    nodes it has more (``Downsample``) or less (``NoDownsample``); ``""`` when none says
    it (the name then gets a number)."""
    for name, value in scope.block_params.items():
        if isinstance(value, bool) and first.block_params.get(name) is (not value):
            word = class_name(name[3:] if name.startswith("is_") else name)
            return word if value else "Not" + word
    for name, value in scope.block_params.items():  # a size that sets the structure
        if name not in scope.ctor_params and isinstance(value, int) and \
                not isinstance(value, bool) and first.block_params.get(name) != value:
            return f"{class_name(name)}{value}"
    mine, theirs = {i.key for i in scope.items}, {j.key for j in first.items}
    stem = _common_stem([k for k in mine if k not in theirs])
    if stem:
        return class_name(stem)
    stem = _common_stem([k for k in theirs if k not in mine])
    if stem:
        return "No" + class_name(stem)
    return ""


def _common_stem(keys: list[str]) -> str:
    if not keys:
        return ""
    parts = [k.split("_") for k in keys]
    stem = []
    for words in zip(*parts):
        if len(set(words)) != 1:
            break
        stem.append(words[0])
    return "_".join(stem)
