"""Math: Add, Multiply, Concat, Chunk, Reshape, Permute, MatMul, Mean.

Each builds a parameter-free module around the engine's tensor op (``torch.add``,
``torch.mul``, ``torch.cat``, ``torch.chunk``, ``Tensor.reshape``, ``Tensor.permute``,
``torch.matmul``, ``torch.mean``).

Splitting: a node has a fixed set of ports, so the split node is **Chunk** (``torch.chunk``)
with ``chunks`` from 2 to 4 and four output ports out0..out3; with ``chunks=k`` only
out0..out(k-1) carry a tensor. As ``torch.chunk``, chunks are ``ceil(size/chunks)`` wide
and the last one may be smaller (or missing: chunk(5, chunks=4) gives 3 chunks, and a wire
from the empty out3 is reported on the node it feeds). Concat takes up to four inputs,
input0..input3, joined in port order; unwired ports are skipped.

``dim`` defaults to 1 in Concat and Chunk: PyTorch's default 0 is the batch N here.

Costs per example (N = 1): MatMul ``B*n*k*m`` MACs for (B, n, k) @ (B, k, m), where B is
the product of the batch-like dims after N; the others 0 params and 0 MACs (elementwise
sums and products, and layout changes, are not multiply-accumulates with weights).
"""

from __future__ import annotations

from math import prod

from playground.engine import ops

from ..spec import REGISTRY, Cost, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import Lambda, dims, fmt, need, no_cost, norm_dim, per_example, tensor


def broadcast(a, b) -> tuple | None:
    """The broadcast of two shapes with None as the batch N (None matches None or 1), or
    None when they do not broadcast."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == y:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        else:
            return None
    return tuple(out)


def _feature_fix(src, want: int) -> str:
    """``"Set fc2.out_features=16"`` when the upstream's own param sets its last dim."""
    param = {"Linear": "out_features", "Embedding": "embedding_dim"}.get(src.node_type)
    if param is not None:
        return f"Set {src.node}.{param}={want}"
    if src.node_type in ("Conv2d", "ConvTranspose2d") and len(src.shape) == 4:
        return f"Set {src.node}.out_channels={want}"
    return f"Make '{src.node}' output {want} there"


def _elementwise_infer(op: str):
    def infer(p, inputs):
        a = tensor(need(inputs, "input", "a tensor"), "input")
        b = tensor(need(inputs, "other", f"a tensor to {op}"), "other")
        out = broadcast(a.shape, b.shape)
        if out is None:
            n = max(len(a.shape), len(b.shape))
            pa = (1,) * (n - len(a.shape)) + tuple(a.shape)
            pb = (1,) * (n - len(b.shape)) + tuple(b.shape)
            d = next(i for i in range(n) if pa[i] != pb[i] and 1 not in (pa[i], pb[i]))
            sa, sb = ("N" if pa[d] is None else pa[d]), ("N" if pb[d] is None else pb[d])
            fix = _feature_fix(b, pa[d]) if pa[d] is not None else \
                f"Make '{b.node}' output {format_shape(a.shape)}"
            raise ShapeError(f"cannot {op} {format_shape(a.shape)} from '{a.node}' and "
                             f"{format_shape(b.shape)} from '{b.node}': dim {d} is {sa} vs "
                             f"{sb} (sizes must be equal, or one of them 1). {fix}.")
        return {"output": out}
    return infer


def _binary(type_, fn, description, formula, op):
    REGISTRY.register(NodeSpec(
        type=type_,
        category="Math",
        description=description,
        inputs=(PortSpec("input", "tensor", "a: any shape"),
                PortSpec("other", "tensor", "b: broadcastable with a")),
        outputs=(PortSpec("output", "tensor", "the broadcast shape of a and b"),),
        infer=_elementwise_infer(op),
        build=lambda p, ins: Lambda(fn),
        cost=no_cost,
        doc=formula,
    ))


_binary("Add", lambda input, other: input + other,
        "Elementwise sum a + b, broadcasting (residual connections).", "y = a + b", "add")
_binary("Multiply", lambda input, other: input * other,
        "Elementwise product a * b, broadcasting (gates).", "y = a * b", "multiply")

# ---------------------------------------------------------------------------------- Concat

_CAT_PORTS = ("input0", "input1", "input2", "input3")


def _concat_infer(p, inputs):
    wired = [(port, inputs[port]) for port in _CAT_PORTS if port in inputs]
    if len(wired) < 2:
        raise ShapeError("joins two or more tensors: wire at least 'input0' and 'input1'.")
    srcs = [(port, tensor(need(inputs, port, "a tensor"), port)) for port, _ in wired]
    first_port, first = srcs[0]
    nd = len(first.shape)
    d = norm_dim(p["dim"], nd, first, fix=1)
    for port, src in srcs[1:]:
        if len(src.shape) != nd:
            raise ShapeError(f"joins tensors of one rank; got {format_shape(first.shape)} from "
                             f"'{first.node}' in '{first_port}' and {format_shape(src.shape)} "
                             f"from '{src.node}' in '{port}'. Reshape '{src.node}' to "
                             f"{nd} dims.")
        diff = [i for i in range(nd) if i != d and src.shape[i] != first.shape[i]]
        if diff:
            i = diff[0]
            same_elsewhere = (len(diff) == 1 and first.shape[d] == src.shape[d]
                              and None not in (first.shape[i], src.shape[i]))
            def n(v):  # the batch dim shows as N
                return "N" if v is None else v
            fix = (f"Set dim={i}", ("dim", i)) if same_elsewhere else \
                (_feature_fix(src, first.shape[i]) if (i == nd - 1 or i == 1) and
                 first.shape[i] is not None else
                 f"Make '{src.node}' output {n(first.shape[i])} in dim {i}", None)
            raise ShapeError(f"joins along dim {p['dim']}, so every other dim must match; dim {i}"
                             f" is {n(first.shape[i])} in '{first_port}' from '{first.node}' but "
                             f"{n(src.shape[i])} in '{port}' from '{src.node}'. {fix[0]}.",
                             fix=fix[1])
    sizes = [src.shape[d] for _, src in srcs]
    if None in sizes:  # the batch dim N: k batches joined are k*N examples, not N
        raise ShapeError(f"joins along dim {p['dim']}, the batch dimension N: the result would "
                         f"hold {len(sizes)}·N examples, which no longer match the targets. "
                         "Join along the features instead (dim=1 or -1).",
                         fix=("dim", 1) if nd > 1 and 1 != d else None)
    return {"output": (*first.shape[:d], sum(sizes), *first.shape[d + 1:])}


def _concat_build(p, ins):
    dim = p["dim"]

    def cat(**ports):
        return ops.cat([ports[k] for k in _CAT_PORTS if k in ports], dim=dim)
    return Lambda(cat, f"dim={dim}")


REGISTRY.register(NodeSpec(
    type="Concat",
    category="Math",
    description="Joins up to four tensors along a dim (torch.cat): channels of parallel "
                "branches, features of two inputs.",
    inputs=tuple(PortSpec(p, "tensor", f"tensor {i}: same shape but along dim")
                 for i, p in enumerate(_CAT_PORTS)),
    outputs=(PortSpec("output", "tensor", "the inputs joined along dim"),),
    params=(ParamSpec("dim", "int", 1, "dimension to join along (torch's default 0 is the "
                                       "batch N here)", low=-8, high=8),),
    infer=_concat_infer,
    build=_concat_build,
    cost=no_cost,
))

# ----------------------------------------------------------------------------------- Chunk

_CHUNK_PORTS = ("out0", "out1", "out2", "out3")


def chunk_sizes(size: int, chunks: int) -> list[int]:
    """Widths of ``torch.chunk(x, chunks)`` along a dim of ``size``: ceil(size/chunks)
    each, the last smaller; fewer than ``chunks`` when size is small."""
    width = -(-size // chunks)
    out, left = [], size
    while left > 0:
        out.append(min(width, left))
        left -= width
    return out


def _chunk_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    d = norm_dim(p["dim"], len(src.shape), src, fix=1)
    size = src.shape[d]
    if size is None:
        raise ShapeError(f"cannot split the batch N (dim {p['dim']} of "
                         f"{format_shape(src.shape)} from '{src.node}'). Set dim=1.",
                         fix=("dim", 1))
    sizes = chunk_sizes(size, p["chunks"])
    shapes = {port: None for port in _CHUNK_PORTS}
    for port, width in zip(_CHUNK_PORTS, sizes):
        shapes[port] = (*src.shape[:d], width, *src.shape[d + 1:])
    return shapes


def _chunk_build(p, ins):
    chunks, dim = p["chunks"], p["dim"]

    def split(input):
        return dict(zip(_CHUNK_PORTS, ops.chunk(input, chunks, dim=dim)))
    return Lambda(split, f"chunks={chunks}, dim={dim}")


REGISTRY.register(NodeSpec(
    type="Chunk",
    category="Math",
    description="Splits a tensor into 2-4 equal chunks along a dim (torch.chunk): e.g. a "
                "VAE encoder's output into mu and logvar.",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=tuple(PortSpec(p, "tensor", f"chunk {i} (only the first `chunks` ports carry one)")
                  for i, p in enumerate(_CHUNK_PORTS)),
    params=(
        ParamSpec("chunks", "int", 2, "number of chunks, 2 to 4 (ports out0..out3)", low=2,
                  high=4),
        ParamSpec("dim", "int", 1, "dimension to split (torch's default 0 is the batch N "
                                   "here)", low=-8, high=8),
    ),
    infer=_chunk_infer,
    build=_chunk_build,
    cost=no_cost,
    doc="width ceil(size/chunks) each; the last chunk may be smaller",
))

# --------------------------------------------------------------------------------- Reshape


def _reshape_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    if src.shape[0] is not None:
        raise ShapeError(f"keeps dim 0 as the batch N, but the batch of "
                         f"{format_shape(src.shape)} from '{src.node}' is dim "
                         f"{src.shape.index(None)}. Add a Permute that moves N first.")
    shape = dims(p["shape"])
    if any(d == 0 or d < -1 for d in shape) or shape.count(-1) > 1:
        raise ShapeError(f"has shape={fmt(p['shape'])}; use positive sizes and at most one -1 "
                         "(the size that makes the count fit). Set shape=(-1,).",
                         fix=("shape", (-1,)))
    total = prod(src.shape[1:])
    known = prod(d for d in shape if d != -1)
    if -1 in shape:
        if total % known:
            raise ShapeError(f"cannot reshape {format_shape(src.shape)} from '{src.node}' "
                             f"({total} values per example) into (N, {', '.join(map(str, shape))})"
                             f": {total} is not divisible by {known}. Set shape=({total},).",
                             fix=("shape", (total,)))
        shape = tuple(total // known if d == -1 else d for d in shape)
    elif known != total:
        guess = (-1, *shape[1:])
        rest = prod(shape[1:])
        fix = (guess, f"Set shape={fmt(guess)}") if total % rest == 0 and len(shape) > 1 else \
            ((total,), f"Set shape=({total},)")
        raise ShapeError(f"cannot reshape {format_shape(src.shape)} from '{src.node}' "
                         f"({total} values per example) into (N, {', '.join(map(str, shape))}) "
                         f"({known} values). {fix[1]}.", fix=("shape", fix[0]))
    return {"output": (None, *shape)}


def _reshape_build(p, ins):
    shape = dims(p["shape"])
    return Lambda(lambda input: input.reshape((input.shape[0], *shape)),
                  f"shape=(N, {', '.join(map(str, shape))})")


REGISTRY.register(NodeSpec(
    type="Reshape",
    category="Math",
    description="Same values, new shape (N, *shape); N is kept and one size may be -1.",
    inputs=(PortSpec("input", "tensor", "x: (N, *dims)"),),
    outputs=(PortSpec("output", "tensor", "y: (N, *shape)"),),
    params=(ParamSpec("shape", "ints", (-1,), "new shape of one example, without N, e.g. (1, 8, "
                                              "8); -1 is inferred", low=-1, high=100_000_000),),
    infer=_reshape_infer,
    build=_reshape_build,
    cost=no_cost,
))

# --------------------------------------------------------------------------------- Permute


def _permute_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    order = dims(p["dims"])
    nd = len(src.shape)
    norm = [d % nd if -nd <= d < nd else None for d in order]
    if len(order) != nd or None in norm or sorted(norm) != list(range(nd)):
        fix = tuple(range(nd)) if nd < 2 else (0, *range(2, nd), 1) if nd > 2 else (1, 0)
        raise ShapeError(f"needs dims to be an order of all {nd} dims of "
                         f"{format_shape(src.shape)} from '{src.node}', got dims={fmt(order)}. "
                         f"Set dims={fmt(fix)}.", fix=("dims", fix))
    return {"output": tuple(src.shape[d] for d in norm)}


REGISTRY.register(NodeSpec(
    type="Permute",
    category="Math",
    description="Reorders the dims (output dim i is input dim dims[i]), e.g. (1, 0, 2) "
                "swaps (L, N, E) and (N, L, E).",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=(PortSpec("output", "tensor", "y: x's dims in the order dims"),),
    params=(ParamSpec("dims", "ints", (0, 2, 1), "the new order of all dims, N included",
                      low=-8, high=8),),
    infer=_permute_infer,
    build=lambda p, ins: Lambda(lambda input: input.permute(*dims(p["dims"])),
                                f"dims={fmt(p['dims'])}"),
    cost=no_cost,
))

# ---------------------------------------------------------------------------------- MatMul


def _matmul_infer(p, inputs):
    a = tensor(need(inputs, "input", "a tensor (N, *, n, k)"), "input")
    b = tensor(need(inputs, "other", "a tensor (N, *, k, m)"), "other")
    for src, port in ((a, "input"), (b, "other")):
        if len(src.shape) < 3:
            raise ShapeError(f"multiplies batches of matrices (N, *, rows, cols), but '{port}' "
                             f"is {format_shape(src.shape)} from '{src.node}'. Use Linear to "
                             "multiply features by a learned matrix.")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"multiplies {format_shape(a.shape)} from '{a.node}' by "
                         f"{format_shape(b.shape)} from '{b.node}', but the inner sizes differ: "
                         f"{a.shape[-1]} (last dim of input) vs {b.shape[-2]} (second-to-last "
                         f"of other). Add a Permute with dims=(0, {len(b.shape) - 1}, "
                         f"{len(b.shape) - 2}) after '{b.node}' if it is transposed.")
    lead = broadcast(a.shape[:-2], b.shape[:-2])
    if lead is None:
        raise ShapeError(f"multiplies {format_shape(a.shape)} from '{a.node}' by "
                         f"{format_shape(b.shape)} from '{b.node}', whose batch dims "
                         f"{format_shape(a.shape[:-2])} and {format_shape(b.shape[:-2])} do not "
                         "broadcast. Reshape one of them.")
    return {"output": (*lead, a.shape[-2], b.shape[-1])}


def _matmul_cost(p, ins, outs) -> Cost:
    a, b = ins["input"], ins["other"]
    n, k, m = a[-2], a[-1], b[-1]
    batch = prod(per_example(outs["output"][:-2]))
    macs = batch * n * k * m
    ms, mn = ("n*k*m", f"{n}*{k}*{m}") if batch == 1 else ("B*n*k*m", f"{batch}*{n}*{k}*{m}")
    return Cost(0, macs, "0", f"{ms} = {mn}")


REGISTRY.register(NodeSpec(
    type="MatMul",
    category="Math",
    description="Matrix product of two batches of matrices (torch.matmul): (N, n, k) @ "
                "(N, k, m) -> (N, n, m).",
    inputs=(PortSpec("input", "tensor", "a: (N, *, n, k)"),
            PortSpec("other", "tensor", "b: (N, *, k, m)")),
    outputs=(PortSpec("output", "tensor", "a @ b: (N, *, n, m)"),),
    infer=_matmul_infer,
    build=lambda p, ins: Lambda(lambda input, other: ops.matmul(input, other)),
    cost=_matmul_cost,
    doc="y_ij = sum_k a_ik b_kj",
))

# ------------------------------------------------------------------------------------ Mean


def _mean_infer(p, inputs):
    src = tensor(need(inputs, "input", "a tensor"), "input")
    nd = len(src.shape)
    over = sorted({norm_dim(d, nd, src, fix=-1) for d in dims(p["dim"])})
    if any(src.shape[d] is None for d in over):
        n = next(d for d in over if src.shape[d] is None)
        fix = 1 if n == 0 else 0
        raise ShapeError(f"averages over dim {n}, the batch N of {format_shape(src.shape)} from "
                         f"'{src.node}'; each example must keep its own mean. Set dim={fix}.",
                         fix=("dim", fix))
    if p["keepdim"]:
        return {"output": tuple(1 if i in over else d for i, d in enumerate(src.shape))}
    return {"output": tuple(d for i, d in enumerate(src.shape) if i not in over)}


def _mean_build(p, ins):
    dim = p["dim"] if isinstance(p["dim"], int) else tuple(p["dim"])
    return Lambda(lambda input: input.mean(dim=dim, keepdim=p["keepdim"]),
                  f"dim={fmt(dim)}, keepdim={p['keepdim']}")


REGISTRY.register(NodeSpec(
    type="Mean",
    category="Math",
    description="Average over one or more dims, e.g. over the sequence (dim=1) or the "
                "positions of a feature map (dim=(2, 3)).",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=(PortSpec("output", "tensor", "x without the averaged dims (size 1 with keepdim)"),),
    params=(
        ParamSpec("dim", "ints", -1, "dim or dims to average over (not the batch N)", low=-8,
                  high=8),
        ParamSpec("keepdim", "bool", False, "keep the averaged dims with size 1"),
    ),
    infer=_mean_infer,
    build=_mean_build,
    cost=no_cost,
    doc="y = (1/n) sum over dim of x",
))

# -- primitives the composite blocks use (attention's 1/√d, GRU's 1 − z) --------------


def _same(p, inputs):
    return {"output": tensor(need(inputs, "input", "a tensor"), "input").shape}


REGISTRY.register(NodeSpec(
    type="Scale",
    category="Math",
    description="Multiplies by a constant: y = x·scale (e.g. attention's 1/√d).",
    inputs=(PortSpec("input", "tensor", "x: any shape"),),
    outputs=(PortSpec("output", "tensor", "y: same shape"),),
    params=(ParamSpec("scale", "float", 1.0, "the constant factor", low=-1e6, high=1e6),),
    infer=_same,
    build=lambda p, ins: Lambda(lambda input: input * p["scale"], f"scale={p['scale']:g}"),
    cost=no_cost,
    doc="y = scale * x",
))


def _sub_infer(p, inputs):
    a = tensor(need(inputs, "input", "a tensor"), "input")
    b = tensor(need(inputs, "other", "a tensor to subtract"), "other")
    out = broadcast(a.shape, b.shape)
    if out is None:
        raise ShapeError(f"cannot subtract {format_shape(b.shape)} from '{b.node}' from "
                         f"{format_shape(a.shape)} from '{a.node}': the shapes do not "
                         f"broadcast. Make '{b.node}' output {format_shape(a.shape)}.")
    return {"output": out}


REGISTRY.register(NodeSpec(
    type="Subtract",
    category="Math",
    description="Elementwise difference input − other (torch.sub), with broadcasting.",
    inputs=(PortSpec("input", "tensor", "a: any shape"),
            PortSpec("other", "tensor", "b: broadcastable to a")),
    outputs=(PortSpec("output", "tensor", "a − b"),),
    infer=_sub_infer,
    build=lambda p, ins: Lambda(lambda input, other: input - other, "input - other"),
    cost=no_cost,
    doc="y = a - b",
))


__all__ = ["broadcast", "chunk_sizes"]
