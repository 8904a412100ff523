"""Generators of hostile and mutated project and weights files, from the presets.

Shared by the file-fuzzing tests (tests/project/test_hostile_files.py, the GUI's Open in
tests/ui/test_hostile_open.py) and benchmarks. Everything is seeded: the same files every
run.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from playground.graph import GraphModel, compile
from playground.project import preset_names, resolve

#: Values put in place of a field's value, written as raw JSON text.
HOSTILE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 400, "9" * 5000,
           "-" + "9" * 5000, "0." + "1" * 300]
ODD = ['"x"', "[]", "{}", "null", "true", "false", "-1", "0", "1.5", "1e30",
       "100000000000000000000", "[1, 2]", "[[[]]]", '{"a": 1}', '"' + "a" * 1000 + '"',
       '"\\ud800"', '"a/b"', '""', "-0.0", "2.5e-320", '[1e308, -1e308]', '"\\u0000"']
_MARK = "@@MUTATED@@"


def field_name(path: tuple) -> str:
    """``("graph", "nodes", 3, "pos")`` -> ``"graph.nodes[3].pos"`` (ProjectError.field)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _paths(obj, path=()):
    if path:
        yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,))


def bases(name: str) -> Iterator[dict]:
    """The preset's JSON; for presets with blocks also the same with every block's inside
    written out, and with a block (and a block inside it) open."""
    raw = json.loads(resolve(name).read_text(encoding="utf-8"))
    yield raw
    m = GraphModel.from_dict(raw["graph"])
    blocks = [n for n in m.nodes() if m.is_composite(n)]
    if blocks:
        yield {**raw, "graph": m.to_dict()}
        m.open_composite(blocks[0])
        inner = [n for n in m.nodes() if m.is_composite(n) and m.group_of(n)]
        if inner:
            m.open_composite(inner[0])
        yield {**raw, "graph": m.to_dict()}


def mutations(rng: random.Random, per_base: int,
              names: list[str] | None = None) -> Iterator[tuple[str, tuple, str, str]]:
    """``(text, path, token, preset)``: a base with the value at ``path`` replaced by the
    JSON text ``token`` (or removed, token ``"DELETE"``)."""
    for name in names or preset_names():
        for raw in bases(name):
            paths = list(_paths(raw))
            for _ in range(per_base):
                path = rng.choice(paths)
                token = rng.choice(HOSTILE + ODD + ["DELETE"])
                doc = json.loads(json.dumps(raw))
                obj = doc
                for k in path[:-1]:
                    obj = obj[k]
                if token == "DELETE":
                    del obj[path[-1]]
                    yield json.dumps(doc), path, token, name
                else:
                    obj[path[-1]] = _MARK
                    yield json.dumps(doc).replace(f'"{_MARK}"', token), path, token, name


def whole_file_damage(rng: random.Random) -> Iterator[tuple[bytes, str]]:
    """``(content, what)``: truncations, bad UTF-8, deep nesting and other whole-file
    damage of every preset."""
    yield b"[" * 100_000 + b"]" * 100_000, "100,000 nested arrays"
    yield b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "100,000 nested objects"
    yield b"", "empty file"
    yield bytes(rng.randrange(256) for _ in range(4096)), "random bytes"
    yield b"\x00" * 1000, "NUL bytes"
    yield b'"just a string"', "a string, not an object"
    yield b"[1, 2, 3]", "a list, not an object"
    for name in preset_names():
        data = resolve(name).read_bytes()
        for cut in sorted(rng.sample(range(1, len(data) - 1), 3)):
            yield data[:cut], f"{name} truncated at byte {cut}"
        at = rng.randrange(len(data))
        yield data[:at] + b"\xff\xfe\xc3" + data[at:], f"{name} with bad UTF-8 at {at}"
        depth = b"[" * 300
        yield data.replace(b'"notes": ', b'"notes": ' + depth, 1) + b"]" * 300, \
            f"{name} with 300 brackets in its notes"


# ------------------------------------------------------------------------------- weights


def preset_weights(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 weights of the right shapes for a preset (no session needed)."""
    raw = json.loads(resolve(name).read_text(encoding="utf-8"))
    program = compile(GraphModel.from_dict(raw["graph"]))
    rng = np.random.default_rng(seed)
    out = {}
    for call in program.calls:
        if call.module is not None:
            for pname, p in call.module.named_parameters():
                out[f"{call.node_id}.{pname}"] = rng.standard_normal(p.data.shape) \
                    .astype(np.float32)
    return out


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _npy_header(descr: str, shape: tuple, fortran: bool = False) -> bytes:
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape})
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _patch_headers(data: bytes, offset_in_header: int, value: int) -> bytes:
    """Set a 2-byte field in every local (PK\\3\\4) and central (PK\\1\\2) header: the
    general-purpose flags are at 6 and 8, the compression method at 8 and 10."""
    out = bytearray(data)
    local, central = offset_in_header
    for sig, off in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        i = out.find(sig)
        while i >= 0:
            out[i + off:i + off + 2] = struct.pack("<H", value)
            i = out.find(sig, i + 4)
    return bytes(out)


def hostile_weights(rng: random.Random, good: dict[str, np.ndarray],
                    flips: int) -> Iterator[tuple[bytes, str, bool]]:
    """``(npz content, what, must_refuse)``. The valid variants (Fortran order, big-endian,
    compressed) must load with the same values; the others must be refused."""
    key = next(iter(good))
    arr = good[key]
    plain = npz_bytes(good)
    yield npz_bytes(good, compressed=True), "compressed (deflate) npz", False
    yield npz_bytes({k: np.asfortranarray(v) for k, v in good.items()}), "Fortran order", False
    yield npz_bytes({k: v.astype(">f4") for k, v in good.items()}), "big-endian", False
    buf = io.BytesIO()
    np.save(buf, arr)
    yield buf.getvalue(), "an .npy renamed .npz", True
    yield _zip({"readme.txt": b"hello"}), "a zip with a text member", True
    yield _zip({f"{key}.npy": b"not an npy"}), "a member that is not an .npy", True
    yield _patch_headers(plain, (6, 8), 0x1), "encrypted members", True
    yield _patch_headers(plain, (8, 10), 99), "compression method 99", True
    yield _zip({f"{key}.npy": _npy_header("<f4", (10_000_000_000,)) + b"\0" * 64}), \
        "a header claiming 40 GB", True
    yield _zip({f"{key}.npy": _npy_header("<f4", (-5,)) + b"\0" * 64}), "a negative shape", True
    yield _zip({f"{key}.npy": _npy_header("<f4", (4, 4)) + b"\0" * 60}), \
        "a header claiming more data than the member holds", True
    obj = io.BytesIO()
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    yield _zip({f"{key}.npy": obj.getvalue()}), "an object (pickled) array", True
    yield npz_bytes({**good, key: arr.astype(np.int64)}), "an int64 array", True
    yield npz_bytes({**good, key: np.zeros(3, dtype=[("a", "<f4"), ("b", "<f4")])}), \
        "a structured array", True
    yield npz_bytes({**good, key: np.full_like(arr, np.nan)}), "NaN weights", True
    yield npz_bytes({**good, key: np.full_like(arr, np.inf)}), "infinite weights", True
    yield npz_bytes({**good, "@step": np.array([1.0, 2.0])}), "a step count of shape (2,)", True
    yield npz_bytes({**good, "@history.loss": np.zeros((3, 4))}), "a (3, 4) history", True
    yield b"", "an empty file", True
    yield b"PK\x05\x06" + b"\0" * 18, "an empty zip", False
    for cut in sorted(rng.sample(range(1, len(plain) - 1), 12)):
        yield plain[:cut], f"truncated at byte {cut}", True
    for _ in range(flips):
        data = bytearray(plain)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data), "bytes flipped", False  # a flip in a float's bits may be harmless
