"""Data nodes: where batches come from. Both are fed from outside (``build=None``): the
caller of ``Program.run`` passes their outputs in ``feeds``.

* Dataset: a dataset of the data registry; outputs the input batch and the class targets.
* Input: a batch of a fixed shape, for inspecting an architecture (summary, one forward pass
  on random data) without a dataset, e.g. ImageNet's (N, 3, 224, 224).
* ShiftRight: the decoder input of teacher forcing, the target tokens shifted one place
  right behind a begin-of-sequence token.

The ``text`` dataset reads three more params (``seq_len``, ``level``, ``min_count``) and
``path`` (a UTF-8 text of the user's; empty: the shipped corpus). The user's own files are
the datasets ``csv``, ``npz``, ``idx`` and ``image_folder`` (:mod:`playground.data.files`):
they read ``path`` and :data:`FILE_PARAMS`. Every dataset ignores the params it does not
read, so their defaults keep every older project valid. A file that is missing or malformed
makes the node invalid with the loader's message (naming the file and what is wrong); the
project still opens.

A sequence dataset (``reverse``, ``dates``, ``text``) gives int64 token indices (N, L) on ``input`` and a class
per position (N, L) on ``target``. Its ``input`` port's metadata says ``dtype="int64"``: an
Embedding takes it, and every node that needs float values refuses it with a message.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from playground import data as datasets
from playground.data import files
from playground.engine import Tensor

from ..spec import REGISTRY, NodeSpec, ParamSpec, PortSpec, ShapeError, format_shape
from ._common import Lambda, need, no_cost

__all__ = ["load_dataset", "dataset_of", "shift_right", "TEXT_PARAMS", "FILE_PARAMS",
           "FILE_DATASETS", "PATH_PARAMS"]

_TEXT_DEFAULTS = dict(datasets.DATASETS["text"].defaults)


#: Dataset-node params that only the ``text`` dataset reads (the others ignore them).
TEXT_PARAMS = ("seq_len", "level", "min_count")
#: Dataset-node params that the user's files read (:func:`playground.data.files.load_file`).
FILE_PARAMS = ("target_path", "input_columns", "target_column", "image_size", "color",
               "val_fraction")
#: The ``dataset`` values read from the user's files.
FILE_DATASETS = tuple(files.FAMILIES)
#: Dataset-node params holding a path (a project stores them relative to itself).
PATH_PARAMS = ("path", "target_path")


#: What each file family reads, besides ``dataset``.
_FILE_USES = {
    "csv": {"path", "input_columns", "target_column", "val_fraction", "seed"},
    "npz": {"path", "target_path", "input_columns", "target_column", "val_fraction", "seed"},
    "idx": {"path", "target_path", "val_fraction", "seed"},
    "image_folder": {"path", "image_size", "color", "val_fraction", "seed"},
}


def _reads(param: str):
    """``when`` of a Dataset-node param: whether the chosen dataset reads it (a registry
    dataset reads the params of its :attr:`DatasetInfo.defaults`, and ``seed`` when it
    has any; ``text`` also reads ``path``)."""
    def when(p) -> bool:
        name = p.get("dataset")
        if name in _FILE_USES:
            return param in _FILE_USES[name]
        info = datasets.DATASETS.get(name)
        if info is None:
            return True
        if param == "seed":
            return bool(info.defaults)
        return param in info.defaults or (param == "path" and name == "text")
    return when


@lru_cache(maxsize=4)  # a user's file may be large (MNIST: 190 MB as float32)
def _load_file(family: str, path: str, stamps: tuple, seed: int, options: tuple):
    return files.load_file(family, path, seed=seed, **dict(options))


@lru_cache(maxsize=16)
def load_dataset(name: str, n_samples: int, noise: float, seed: int,
                 text: tuple = ()) -> datasets.Dataset:
    """Load (and cache) a dataset by its Dataset-node params. Shared by inference and the
    session so that a dataset is generated once. ``text``: ``(seq_len, level,
    min_count)`` for the ``text`` dataset, else empty."""
    return datasets.load(name, n_samples=n_samples, noise=noise, seed=seed,
                         **dict(zip(TEXT_PARAMS, text)))


def dataset_of(params) -> datasets.Dataset:
    """The (cached) dataset of a Dataset node's params; a user's file is read again when
    it changes on disk.

    Raises:
        ValueError, KeyError: a bad param. FileNotFoundError, DatasetFileError: the user's
        file is missing or malformed (the message names it).
    """
    name = params["dataset"]
    path = params.get("path", "")
    if name in files.FAMILIES:
        options = tuple((k, params.get(k, _FILE_DEFAULTS[k])) for k in FILE_PARAMS)
        target = params.get("target_path", "")
        stamps = (files.stamp(path), files.stamp(target) if target else None)
        if name == "idx" and not target:
            stamps += (files.stamp(files.labels_path_for(path)),)
        return _load_file(name, path, stamps, params["seed"], options)
    if name == "text" and path:
        d = {k: params.get(k, _TEXT_DEFAULTS[k]) for k in TEXT_PARAMS}
        return _load_text(path, files.stamp(path), params["n_samples"], params["seed"],
                          d["seq_len"], d["level"], d["min_count"])
    text = tuple(params.get(k, _TEXT_DEFAULTS[k]) for k in TEXT_PARAMS) \
        if name == "text" else ()
    return load_dataset(name, params["n_samples"], params["noise"], params["seed"], text)


@lru_cache(maxsize=4)
def _load_text(path: str, stamp: tuple, n_samples: int, seed: int, seq_len: int, level: str,
               min_count: int) -> datasets.Dataset:
    return datasets.text.load_text(n_samples, seed, seq_len, level, min_count, path)


def _dataset_infer(p, inputs):
    try:
        ds = dataset_of(p)
    except (ValueError, KeyError, OSError) as exc:
        raise ShapeError(f"cannot load its data: {exc}") from None
    shapes = {"x": (None, *ds.feature_shape), "target": (None, *ds.target_shape)}
    meta = {"target": {"num_classes": ds.num_classes}}
    if ds.train.input.dtype == np.int64:  # token sequences: integer indices for an Embedding
        meta["x"] = {"dtype": "int64", "num_classes": ds.input_vocab_size}
    return shapes, meta


_FILE_DEFAULTS = {"target_path": "", "input_columns": "", "target_column": "",
                  "image_size": 28, "color": "grayscale", "val_fraction": 0.2}

REGISTRY.register(NodeSpec(
    type="Dataset",
    category="Data",
    description="A dataset: its outputs are the input batch and the class targets.",
    outputs=(PortSpec("x", "tensor", "x: (N, *features) float32 batch, or (N, L) int64 "
                                         "tokens for a sequence dataset"),
             PortSpec("target", "index", "y: (N,) int64 class indices, or (N, L) one per "
                                         "position")),
    params=(
        ParamSpec("dataset", "choice", "spirals", "which dataset; csv, npz, idx and "
                  "image_folder read your own file (path)",
                  choices=tuple(datasets.names()) + FILE_DATASETS),
        ParamSpec("n_samples", "int", 400, "examples in the training split (2-D toys)",
                  low=4, high=100_000, when=_reads("n_samples")),
        ParamSpec("noise", "float", 0.1, "std of the noise added to the 2-D toys", low=0.0,
                  high=1.0, when=_reads("noise")),
        ParamSpec("seed", "int", 0, "seed the toy data is generated from (your files: the "
                  "held-out split)", low=0, high=2**31 - 1, when=_reads("seed")),
        ParamSpec("seq_len", "int", _TEXT_DEFAULTS["seq_len"], "text: L, tokens per window "
                  "(the target is the same window shifted by one)",
                  low=datasets.SEQ_LEN_RANGE[0], high=datasets.SEQ_LEN_RANGE[1],
                  when=_reads("seq_len")),
        ParamSpec("level", "choice", _TEXT_DEFAULTS["level"], "text: predict the next "
                  "character or the next word", choices=datasets.text.LEVELS,
                  when=_reads("level")),
        ParamSpec("min_count", "int", _TEXT_DEFAULTS["min_count"], "text, level=word: rarer "
                  "words become <unk>", low=datasets.MIN_COUNT_RANGE[0],
                  high=datasets.MIN_COUNT_RANGE[1], when=_reads("min_count")),
        ParamSpec("path", "path", "", "your file (csv, npz, idx) or folder (image_folder); "
                  "text: a UTF-8 text (empty: the shipped Shakespeare)", when=_reads("path")),
        ParamSpec("target_path", "path", "", "idx: the labels file (empty: found by MNIST's "
                  "names); npz: an .npy of targets for an .npy of inputs",
                  when=_reads("target_path")),
        ParamSpec("input_columns", "str", "", "csv, .npy table: input columns by name or "
                  "number ('0-3, 5'; empty: all but the target); npz: the inputs' key",
                  when=_reads("input_columns")),
        ParamSpec("target_column", "str", "", "csv, .npy table: the target column (empty: "
                  "the last); npz: the targets' key", when=_reads("target_column")),
        ParamSpec("image_size", "int", 28, "image_folder: images resized to size x size",
                  low=files.IMAGE_SIZE_RANGE[0], high=files.IMAGE_SIZE_RANGE[1],
                  when=_reads("image_size")),
        ParamSpec("color", "choice", "grayscale", "image_folder: 1 gray or 3 RGB channels",
                  choices=files.COLORS, when=_reads("color")),
        ParamSpec("val_fraction", "float", 0.2, "your files: the fraction held out "
                  "(stratified by class, drawn by seed)", low=files.VAL_FRACTION_RANGE[0],
                  high=files.VAL_FRACTION_RANGE[1], when=_reads("val_fraction")),
    ),
    infer=_dataset_infer,
    build=None,
    cost=no_cost,
))


def _input_infer(p, inputs):
    shape = (p["shape"],) if isinstance(p["shape"], int) else p["shape"]
    meta = {"output": {"dtype": "int64"}} if p["dtype"] == "int64" else {}
    return {"output": (None, *shape)}, meta


REGISTRY.register(NodeSpec(
    type="Input",
    category="Data",
    description="A batch of a fixed shape (N, *shape), fed from outside: to inspect a model "
                "without a dataset.",
    outputs=(PortSpec("output", "tensor", "x: (N, *shape) float32 (or int64 token indices)"),),
    params=(ParamSpec("shape", "ints", (3, 32, 32), "shape of one example, without the batch "
                                                  "N: (C, H, W) for images, (L, E) for sequences",
                      low=1, high=1_000_000),
            ParamSpec("dtype", "choice", "float32", "float32 values, or int64 token indices "
                                                    "for an Embedding",
                      choices=("float32", "int64"))),
    infer=_input_infer,
    build=None,
    cost=no_cost,
))


# ------------------------------------------------------------------------------ ShiftRight


def shift_right(tokens: np.ndarray, bos: int) -> np.ndarray:
    """``[bos, y_0, ..., y_{L-2}]`` for each row of ``tokens`` (N, L): int64 (N, L).

    The decoder input of teacher forcing (Vaswani et al. 2017, §3.1: "the output embeddings
    are offset by one position"): position i sees the true tokens before i and, through a
    causal mask, nothing later, so it learns to predict y_i from y_0..y_{i-1}.
    """
    tokens = np.asarray(tokens)
    out = np.empty(tokens.shape, dtype=np.int64)
    out[:, 0] = bos
    out[:, 1:] = tokens[:, :-1]
    return out


def _shift_infer(p, inputs):
    src = need(inputs, "input", "the target tokens (N, L), e.g. the Dataset's target")
    if src.shape is None or len(src.shape) != 2:
        raise ShapeError(f"expects token sequences (N, L) in 'input', got "
                         f"{format_shape(src.shape)} from '{src.node}'. Wire a sequence "
                         "Dataset's target (dataset=reverse).")
    classes = (src.meta or {}).get("num_classes")
    bos = p["bos"]
    if classes is not None and bos < classes:
        raise ShapeError(f"has bos={bos}, which is also a real token of '{src.node}' "
                         f"(tokens 0..{classes - 1}): the decoder could not tell the start from "
                         f"a token. Set bos={classes}.", fix=("bos", classes))
    vocab = max(bos + 1, classes or 0)
    return {"output": src.shape}, {"output": {"dtype": "int64", "num_classes": vocab}}


def _shift_build(p, ins):
    bos = p["bos"]
    return Lambda(lambda input: Tensor(shift_right(input.data, bos)), f"bos={bos}")


REGISTRY.register(NodeSpec(
    type="ShiftRight",
    category="Data",
    description="Teacher forcing: the target tokens shifted one place right behind a "
                "begin-of-sequence token, as the decoder's input.",
    inputs=(PortSpec("input", "index", "y: (N, L) int64 target tokens"),),
    outputs=(PortSpec("output", "tensor", "[bos, y_0, ..., y_{L-2}]: (N, L) int64 tokens "
                                          "for an Embedding with num_embeddings > bos"),),
    params=(ParamSpec("bos", "int", 10, "the begin-of-sequence token put first; one past "
                                        "the data's tokens (10 for the digits 0-9)",
                      low=0, high=10_000_000),),
    infer=_shift_infer,
    build=_shift_build,
    cost=no_cost,
    doc="out[:, 0] = bos; out[:, i] = y[:, i-1] for i >= 1 (Vaswani et al. 2017, §3.1)",
))
