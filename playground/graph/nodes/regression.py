"""The Regression data node: a batch of float inputs x (N, D) and float targets (N, 1)
from a known function with noise and optional outliers (:mod:`playground.data.regression`),
for MSELoss, L1Loss and SmoothL1Loss.

It is a data source as the Dataset node is (``build=None``: the session feeds its outputs),
but its ``target`` port carries a float tensor, not class indices, so it wires into the
regression losses and not into CrossEntropyLoss. :data:`DATA_SOURCES` names both types and
:func:`source_dataset` loads the data of either.

``function="file"`` reads the user's own CSV or NPY/NPZ (``path``, the columns or keys in
``input_columns`` and ``target_column``) with float targets
(:func:`playground.data.files.load_file`, ``task="regression"``); 20% is held out.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from playground.data import files
from playground.data import regression as reg

from ..spec import REGISTRY, NodeSpec, ParamSpec, PortSpec, ShapeError
from ._common import no_cost
from .data import dataset_of

__all__ = ["DATA_SOURCES", "has_data_source", "regression_of", "source_dataset"]

#: Node types the session trains from (exactly one per graph).
DATA_SOURCES = ("Dataset", "Regression", "GradientNoise")


def has_data_source(model) -> bool:
    """True when the GraphModel ``model`` has a node the session can train from (an
    architecture to inspect, drawn from an Input node, has none)."""
    return any(model.spec(n).type in DATA_SOURCES for n in model.nodes())


@lru_cache(maxsize=16)
def _load(function: str, in_features: int, n_samples: int, noise: float, outliers: float,
          seed: int) -> reg.RegressionDataset:
    return reg.make_regression(function, in_features, n_samples, noise, outliers, seed)


@lru_cache(maxsize=8)
def _load_file(path: str, stamp: tuple, input_columns: str, target_column: str,
               seed: int) -> reg.RegressionDataset:
    family = "npz" if path.lower().endswith((".npy", ".npz")) else "csv"
    return files.load_file(family, path, input_columns=input_columns,
                           target_column=target_column, task="regression", seed=seed)


def regression_of(params: Mapping[str, Any]) -> reg.RegressionDataset:
    """The (cached) dataset of a Regression node's params (a user's file is read again
    when it changes).

    Raises:
        ValueError: a bad param. FileNotFoundError, DatasetFileError: ``function="file"``
        and the file is missing or malformed (the message names it).
    """
    if params["function"] == "file":
        path = params.get("path", "")
        return _load_file(path, files.stamp(path), params.get("input_columns", ""),
                          params.get("target_column", ""), params["seed"])
    return _load(params["function"], params["in_features"], params["n_samples"],
                 params["noise"], params["outliers"], params["seed"])


def source_dataset(node_type: str, params: Mapping[str, Any]):
    """The data of a data-source node: a Dataset node's registry dataset or a Regression
    node's :class:`~playground.data.regression.RegressionDataset`."""
    if node_type == "GradientNoise":  # an optimization problem's (optimization.py)
        from .optimization import noise_of
        return noise_of(params)
    return regression_of(params) if node_type == "Regression" else dataset_of(params)


def _from_file(p) -> bool:
    return p.get("function") == "file"


def _generated(p) -> bool:
    return p.get("function") != "file"


def _infer(p, inputs):
    try:
        ds = regression_of(p)
    except (ValueError, OSError) as exc:
        verb = "load" if p["function"] == "file" else "make"
        raise ShapeError(f"cannot {verb} its data: {exc}") from None
    return {"x": (None, *ds.feature_shape), "target": (None, 1)}


REGISTRY.register(NodeSpec(
    type="Regression",
    category="Data",
    description="Regression data: inputs x and float targets y = f(x) + noise, with optional "
                "outliers, for MSELoss, L1Loss or SmoothL1Loss.",
    outputs=(PortSpec("x", "tensor", "x: (N, in_features) float32 inputs"),
             PortSpec("target", "tensor", "y: (N, 1) float32 targets")),
    params=(
        ParamSpec("function", "choice", "linear", "the true f: linear 2x + 0.5, sine sin(πx), "
                  "log 2 ln(x + 1), quadratic x²; file: your CSV or NPY/NPZ (path)",
                  choices=reg.FUNCTIONS + ("file",)),
        ParamSpec("in_features", "int", 1, "D, the input features (1 or 2)", low=1, high=2,
                  when=_generated),
        ParamSpec("n_samples", "int", 200, "examples in each split (train, held-out)",
                  low=reg.N_SAMPLES_RANGE[0], high=reg.N_SAMPLES_RANGE[1], when=_generated),
        ParamSpec("noise", "float", 0.1, "std of the Gaussian noise on the targets",
                  low=reg.NOISE_RANGE[0], high=reg.NOISE_RANGE[1], when=_generated),
        ParamSpec("outliers", "float", 0.0, "fraction of training targets raised by 3 to 6 "
                  "(on the right half of x); the held-out split has none",
                  low=reg.OUTLIERS_RANGE[0], high=reg.OUTLIERS_RANGE[1], when=_generated),
        ParamSpec("seed", "int", 0, "seed the data is generated from", low=0, high=2**31 - 1),
        ParamSpec("path", "path", "", "function=file: your CSV or NPY/NPZ", when=_from_file),
        ParamSpec("input_columns", "str", "", "function=file: input columns by name or "
                  "number ('0-3, 5'; empty: all but the target); npz: the inputs' key",
                  when=_from_file),
        ParamSpec("target_column", "str", "", "function=file: the target column (empty: the "
                  "last); npz: the targets' key", when=_from_file),
    ),
    infer=_infer,
    build=None,
    cost=no_cost,
    doc="y = f(x) + noise·ε, ε ~ N(0, 1); outliers: y += U(3, 6)",
))
