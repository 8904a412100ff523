"""Container types of the data layer: :class:`Split`, :class:`Dataset`, :class:`DatasetInfo`.

Shapes use N = number of examples, F... = the feature shape of one example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

__all__ = ["Split", "Dataset", "DatasetInfo", "UnknownDatasetError", "DatasetFileError"]


class UnknownDatasetError(KeyError, ValueError):
    """A dataset name that is not in the registry. Catchable as KeyError or ValueError."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class DatasetFileError(ValueError):
    """A dataset file exists but cannot be read or does not hold what it should."""


@dataclass(frozen=True, eq=False)
class Split:
    """The arrays of one split (train or val).

    Attributes:
        input: float32 array (N, *F), one example per row; or int64 (N, L) token indices
            for a sequence dataset.
        target: int64 array (N,), class index of each example; or (N, *T) for a dataset
            with a class index per position (a target sequence (N, L)).

    Raises:
        ValueError: on wrong dtypes, ranks, or N mismatch between input and target.
    """

    input: np.ndarray
    target: np.ndarray

    def __post_init__(self) -> None:
        x, y = self.input, self.target
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.int64) or x.ndim < 2:
            raise ValueError(
                f"Split.input must be a float32 (or int64 token) array of shape (N, *F), got "
                f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}"
            )
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim < 1:
            raise ValueError(
                f"Split.target must be an int64 array of shape (N,) or (N, *T), got "
                f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}"
            )
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"Split.input has N={x.shape[0]} rows but target has {y.shape[0]}")

    def __len__(self) -> int:
        """N, the number of examples."""
        return int(self.target.shape[0])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: a train split, an optional val split and its metadata.

    Attributes:
        name: registry key, e.g. ``"xor"``.
        train: training split.
        val: held-out split, or None if the dataset has none.
        num_classes: C; every target is in ``0 .. C-1``.
        feature_shape: shape of one example, ``input.shape[1:]``: ``(2,)`` for the 2-D toys,
            ``(64,)`` for digits.
        image_shape: ``(channels, height, width)`` the flat features reshape to for display or a
            Conv2d input (``(1, 8, 8)`` for digits), or None when the inputs are not images.
        class_names: C human-readable names, index = class index.
        target_shape: shape of one example's target: ``()`` for one class index per
            example, ``(L,)`` for a class index per position of a sequence.
        input_vocab: for a token dataset whose inputs and targets use different
            vocabularies (``dates``: characters in, ISO digits out), the string of each input
            token (index = token); None when the inputs are the classes' tokens
            (``class_names``) or not tokens at all.
        extras: read-only mapping of dataset-specific extras (``text``: its ``vocabulary``
            and ``unigram`` frequencies); empty for most datasets.

    Raises:
        ValueError: if the splits disagree with ``feature_shape``/``num_classes``.
    """

    name: str
    train: Split
    val: Split | None
    num_classes: int
    feature_shape: tuple[int, ...]
    image_shape: tuple[int, ...] | None
    class_names: tuple[str, ...]
    target_shape: tuple[int, ...] = ()
    input_vocab: tuple[str, ...] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def input_vocab_size(self) -> int | None:
        """Tokens an Embedding on the inputs must cover (``num_embeddings``): the size of
        ``input_vocab``, or ``num_classes`` for a token dataset without one, or None when
        the inputs are not tokens."""
        if self.input_vocab is not None:
            return len(self.input_vocab)
        return self.num_classes if self.train.input.dtype == np.int64 else None

    def __post_init__(self) -> None:
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: {len(self.class_names)} class_names for "
                f"num_classes={self.num_classes}"
            )
        if self.image_shape is not None and int(np.prod(self.image_shape)) != int(
            np.prod(self.feature_shape)
        ):
            raise ValueError(
                f"dataset {self.name!r}: image_shape {self.image_shape} does not hold "
                f"feature_shape {self.feature_shape}"
            )
        for label, split in (("train", self.train), ("val", self.val)):
            if split is None:
                continue
            if split.input.shape[1:] != self.feature_shape:
                raise ValueError(
                    f"dataset {self.name!r}: {label} input shape {split.input.shape} does not "
                    f"match feature_shape {self.feature_shape}"
                )
            if split.target.shape[1:] != self.target_shape:
                raise ValueError(
                    f"dataset {self.name!r}: {label} target shape {split.target.shape} does not "
                    f"match target_shape {self.target_shape}"
                )
            if len(split) and (split.target.min() < 0 or split.target.max() >= self.num_classes):
                raise ValueError(
                    f"dataset {self.name!r}: {label} targets outside 0..{self.num_classes - 1}"
                )
            vocab = self.input_vocab
            if vocab is not None and len(split) and (split.input.min() < 0
                                                     or split.input.max() >= len(vocab)):
                raise ValueError(
                    f"dataset {self.name!r}: {label} input tokens outside 0..{len(vocab) - 1}"
                )


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """Registry entry describing a dataset before it is loaded (read by palette, inspector, UI).

    Attributes:
        name: registry key, as passed to :func:`playground.data.load`.
        title: short display title.
        description: one or two sentences for tooltips/the inspector.
        defaults: parameter name -> default value (read-only mapping); the parameters
            :func:`load` accepts for this dataset besides ``seed``. Empty for digits.
        ranges: parameter name -> inclusive ``(low, high)`` allowed range (read-only mapping).
        is_2d: True when inputs are points in the plane (the decision-boundary plot applies).
        num_classes: number of classes with default parameters (blobs: ``centers``).
        is_sequence: True when inputs are token sequences (N, L) with a target per position.
    """

    name: str
    title: str
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    is_2d: bool = False
    num_classes: int = 2
    is_sequence: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "ranges", MappingProxyType(dict(self.ranges)))
