"""Regression data: float inputs x (N, D) and float targets y (N, 1) from a known function,
plus Gaussian noise and, optionally, gross outliers. For the Regression node, whose targets
wire into MSELoss, L1Loss and SmoothL1Loss.

Functions (D = ``in_features``, 1 or 2; the true values are in :data:`TRUTH`):

==========  ==============================  ==============================  ==============
function    D = 1                           D = 2                           x range
==========  ==============================  ==============================  ==============
linear      y = 2 x + 0.5                   y = 2 x0 - x1 + 0.5             [-1, 1]
sine        y = sin(pi x)                   y = sin(pi x0) cos(pi x1 / 2)   [-1, 1]
log         y = 2 ln(x + 1)                 y = 2 ln(x0 + 1) + ln(x1 + 1)   [0.5, 4]
quadratic   y = x^2                         y = x0^2 + x1^2                 [-1, 1]
==========  ==============================  ==============================  ==============

``noise`` is the standard deviation of the Gaussian noise added to every target.
``outliers`` is the fraction of *training* points turned into gross errors: they are drawn
among the points with x0 above the middle of its range and their targets are raised by
U(3, 6). They sit on one side, so they tilt a least-squares (L2) line, while a least
absolute deviations (L1) line follows the median and stays near the truth. The held-out
split has the same noise but no outliers: its loss measures the fit to the true function.

Train and held-out splits have ``n_samples`` points each, drawn with generators seeded by
``(seed, 0)`` and ``(seed, 1)``; the same arguments give identical arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

__all__ = ["FUNCTIONS", "TRUTH", "RegressionSplit", "RegressionDataset", "make_regression",
           "FloatTargetAttributes", "OUTLIER_SHIFT", "N_SAMPLES_RANGE", "NOISE_RANGE",
           "OUTLIERS_RANGE"]

FUNCTIONS = ("linear", "sine", "log", "quadratic")
N_SAMPLES_RANGE = (4, 100_000)
NOISE_RANGE = (0.0, 2.0)
OUTLIERS_RANGE = (0.0, 0.45)  # at half or more, no estimator can tell the line from them
OUTLIER_SHIFT = (3.0, 6.0)  # an outlier's target is raised by U(3, 6)

_RANGES = {"linear": (-1.0, 1.0), "sine": (-1.0, 1.0), "log": (0.5, 4.0),
           "quadratic": (-1.0, 1.0)}

#: The true parameters of each function, by ``(function, in_features)``.
TRUTH: dict[tuple[str, int], dict[str, float]] = {
    ("linear", 1): {"slope": 2.0, "intercept": 0.5},
    ("linear", 2): {"weight0": 2.0, "weight1": -1.0, "intercept": 0.5},
    ("log", 1): {"w1": 2.0, "w2": 1.0},  # y = w1 ln(x + w2)
    ("log", 2): {},
    ("sine", 1): {}, ("sine", 2): {}, ("quadratic", 1): {}, ("quadratic", 2): {},
}


def _f(function: str, x: np.ndarray) -> np.ndarray:
    """The noise-free target of each row of x (N, D): (N,) float64."""
    x0 = x[:, 0]
    x1 = x[:, 1] if x.shape[1] > 1 else None
    if function == "linear":
        return 2 * x0 + 0.5 if x1 is None else 2 * x0 - x1 + 0.5
    if function == "sine":
        return np.sin(np.pi * x0) if x1 is None else np.sin(np.pi * x0) * np.cos(np.pi * x1 / 2)
    if function == "log":
        return 2 * np.log(x0 + 1) if x1 is None else 2 * np.log(x0 + 1) + np.log(x1 + 1)
    return x0 ** 2 if x1 is None else x0 ** 2 + x1 ** 2


@dataclass(frozen=True, eq=False)
class RegressionSplit:
    """Examples with float targets.

    Attributes:
        input: float32 (N, D).
        target: float32 (N, 1).
        outlier: bool (N,), True for the points made gross errors.
    """

    input: np.ndarray
    target: np.ndarray
    outlier: np.ndarray

    def __post_init__(self) -> None:
        if self.input.dtype != np.float32 or self.input.ndim != 2:
            raise ValueError(f"input must be float32 (N, D), got {self.input.dtype} "
                             f"{self.input.shape}")
        if self.target.dtype != np.float32 or self.target.shape != (len(self.input), 1):
            raise ValueError(f"target must be float32 ({len(self.input)}, 1), got "
                             f"{self.target.dtype} {self.target.shape}")

    def __len__(self) -> int:
        return len(self.input)


@dataclass(frozen=True, eq=False, kw_only=True)
class FloatTargetAttributes:
    """The attributes the session reads from a :class:`~playground.data.Dataset`, as a
    dataset of float targets has them: one float per example (``target_shape=(1,)``), no
    classes, images or tokens. :class:`RegressionDataset` and GradientNoise's data
    (``playground.graph.nodes.optimization``) build on it; keyword-only, so a subclass's own
    fields come first in its constructor."""

    target_shape: tuple[int, ...] = (1,)
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    image_shape: tuple[int, ...] | None = None
    input_vocab: tuple[str, ...] | None = None
    input_vocab_size: int | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RegressionDataset(FloatTargetAttributes):
    """A loaded regression dataset, with the attributes the session reads from a
    :class:`~playground.data.Dataset` (no classes: ``num_classes`` is 0).

    Attributes:
        name: ``"regression_<function>"``.
        train, val: the splits (val has no outliers).
        feature_shape: ``(D,)``.
        target_shape: ``(1,)``: one float per example.
        truth: the true parameters (:data:`TRUTH`).
    """

    name: str
    train: RegressionSplit
    val: RegressionSplit
    feature_shape: tuple[int, ...]
    truth: Mapping[str, float] = field(default_factory=dict)


def _split(function: str, d: int, n: int, noise: float, outliers: float,
           rng: np.random.Generator) -> RegressionSplit:
    lo, hi = _RANGES[function]
    x = rng.uniform(lo, hi, size=(n, d))
    y = _f(function, x) + noise * rng.standard_normal(n)
    bad = np.zeros(n, dtype=bool)
    k = int(round(outliers * n))
    if k:
        right = np.flatnonzero(x[:, 0] > (lo + hi) / 2)
        pick = rng.choice(right, size=min(k, len(right)), replace=False)
        bad[pick] = True
        y[pick] += rng.uniform(*OUTLIER_SHIFT, size=len(pick))
    return RegressionSplit(x.astype(np.float32), y.astype(np.float32)[:, None], bad)


def _check(name: str, value: Any, lo: float, hi: float, whole: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                            np.floating))
    if ok and whole:
        ok = float(value) == int(value)
    if not ok or not math.isfinite(float(value)) or not lo <= value <= hi:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} must be {kind} in [{lo:g}, {hi:g}], got {value!r}")


def make_regression(function: str = "linear", in_features: int = 1, n_samples: int = 200,
                    noise: float = 0.1, outliers: float = 0.0, seed: int = 0
                    ) -> RegressionDataset:
    """The regression dataset of ``function`` (see the module's table).

    Args:
        function: one of :data:`FUNCTIONS`.
        in_features: D, 1 or 2.
        n_samples: points in each split.
        noise: standard deviation of the Gaussian noise on the targets (target units).
        outliers: fraction of the training points made gross errors (0 to 0.45).
        seed: non-negative integer.

    Returns:
        a :class:`RegressionDataset`: inputs float32 (n_samples, D), targets float32
        (n_samples, 1).

    Raises:
        ValueError: an unknown function or an argument out of range (the message names it).
    """
    if function not in FUNCTIONS:
        raise ValueError(f"unknown regression function {function!r}; valid: "
                         f"{', '.join(FUNCTIONS)}")
    if in_features not in (1, 2) or isinstance(in_features, bool):
        raise ValueError(f"in_features must be 1 or 2, got {in_features!r}")
    _check("n_samples", n_samples, *N_SAMPLES_RANGE, whole=True)
    _check("noise", noise, *NOISE_RANGE)
    _check("outliers", outliers, *OUTLIERS_RANGE)
    _check("seed", seed, 0, 2**63 - 1, whole=True)
    n = int(n_samples)
    train = _split(function, in_features, n, float(noise), float(outliers),
                   np.random.default_rng((int(seed), 0)))
    val = _split(function, in_features, n, float(noise), 0.0,
                 np.random.default_rng((int(seed), 1)))
    return RegressionDataset(f"regression_{function}", train, val, (in_features,),
                             dict(TRUTH[(function, in_features)]))
