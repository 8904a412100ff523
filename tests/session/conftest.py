"""Helpers for session tests: projects built from a few lines of graph."""

from __future__ import annotations

import numpy as np
import pytest

from playground.project.format import from_dict


def make_project(nodes, edges, training=None, recipe=None, weights=None):
    """A project from ``nodes`` = [(id, type, params)] and ``edges`` =
    ["src.port -> dst.port"], validated as a file would be."""
    raw = {
        "schema_version": 1,
        "name": "test",
        "graph": {
            "nodes": [{"id": i, "type": t, "params": p, "pos": [0, 0]} for i, t, p in nodes],
            "edges": [dict(zip(("src", "src_port", "dst", "dst_port"),
                               [*e.split("->")[0].strip().split("."),
                                *e.split("->")[1].strip().split(".")])) for e in edges],
        },
        "training": {"optimizer": "SGD", "lr": 0.1, "batch_size": 32, "seed": 0,
                     **(training or {})},
        "recipe": recipe or {"type": "supervised"},
    }
    proj = from_dict(raw)
    if weights:
        proj.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
    return proj


@pytest.fixture
def project():
    return make_project
