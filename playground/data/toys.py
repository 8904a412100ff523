"""2-D toy classification sets in the style of TensorFlow Playground.

Every generator has the signature ``make_<name>(n, noise, rng, ...) -> (x, y)`` with

- ``n``: number of points N (validated by :func:`playground.data.load`, not here);
- ``noise``: standard deviation of isotropic Gaussian jitter added to each coordinate after
  the label is fixed, in input units (the clean data lies roughly in [-1, 1]^2);
- ``rng``: a ``numpy.random.Generator``, the only source of randomness;
- ``x``: float32 (N, 2); ``y``: int64 (N,).

Classes are balanced exactly: class counts differ by at most one (the first
``N mod C`` classes get the extra point). Rows come in random order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_xor", "make_circles", "make_moons", "make_spirals", "make_blobs", "blob_centers",
           "make_ring", "ring_centers", "make_linear"]

XOR_PADDING = 0.05  # clean points keep this distance from both axes
CIRCLE_RADII = (1.0, 0.5)  # class 0 outer ring, class 1 inner ring
SPIRAL_TURNS = 1.75
BLOB_RADIUS = 0.6  # blob centres lie on this circle
RING_MODES = 8  # the GAN benchmark's ring of 8 Gaussians
RING_RADIUS = 0.8
LINEAR_ANGLE = np.pi / 6  # the separating line through the origin, 30 degrees up
LINEAR_MARGIN = 0.1  # clean points keep this distance from the line


def _balanced_labels(n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """int64 (N,) labels, counts differing by at most one, in random order."""
    return rng.permutation(np.arange(n, dtype=np.int64) % num_classes)


def _finish(points: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator):
    if noise > 0:
        points = points + noise * rng.standard_normal(points.shape)
    return np.ascontiguousarray(points, dtype=np.float32), y


def make_xor(n: int, noise: float, rng: np.random.Generator):
    """XOR: uniform points in [-1, 1]^2, at least ``XOR_PADDING`` from the axes.

    Class 1 where x*y > 0 (quadrants I and III), class 0 where x*y < 0. The label is that of
    the clean point, so jitter pushes points near the axes across the boundary (label noise).
    """
    y = _balanced_labels(n, 2, rng)
    mag = rng.uniform(XOR_PADDING, 1.0, size=(n, 2))
    sx = rng.choice(np.array([-1.0, 1.0]), size=n)
    sy = np.where(y == 1, sx, -sx)
    return _finish(mag * np.stack([sx, sy], axis=1), y, noise, rng)


def make_circles(n: int, noise: float, rng: np.random.Generator):
    """Two concentric rings: class 0 on radius 1.0, class 1 on radius 0.5, uniform angle."""
    y = _balanced_labels(n, 2, rng)
    r = np.asarray(CIRCLE_RADII)[y]
    t = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return _finish(np.stack([r * np.cos(t), r * np.sin(t)], axis=1), y, noise, rng)


def make_moons(n: int, noise: float, rng: np.random.Generator):
    """Two interleaving half circles (scikit-learn's ``make_moons`` shape, random angles).

    Class 0 is the upper moon ``(cos t, sin t)``, class 1 the lower ``(1 - cos t, 0.5 - sin t)``,
    t uniform in [0, pi]; then centred and divided by 1.5, so x in [-1, 1], y in [-0.5, 0.5].
    """
    y = _balanced_labels(n, 2, rng)
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    pts = np.where((y == 0)[:, None], upper, lower)
    pts = (pts - np.array([0.5, 0.25])) / 1.5
    return _finish(pts, y, noise, rng)


def make_spirals(n: int, noise: float, rng: np.random.Generator):
    """Two interleaved spirals (TensorFlow Playground), ``SPIRAL_TURNS`` turns each.

    A point at fraction u ~ U(0, 1) along its arm has radius u and angle
    ``2*pi*SPIRAL_TURNS*u + pi*class``: ``(u sin a, u cos a)``, inside the unit disc.
    """
    y = _balanced_labels(n, 2, rng)
    u = rng.uniform(0.0, 1.0, size=n)
    a = 2.0 * np.pi * SPIRAL_TURNS * u + np.pi * y
    return _finish(np.stack([u * np.sin(a), u * np.cos(a)], axis=1), y, noise, rng)


def blob_centers(centers: int) -> np.ndarray:
    """float64 (C, 2) fixed blob centres: evenly spaced on a circle of radius ``BLOB_RADIUS``,
    the first straight up. They do not depend on the seed, so train and val share them."""
    a = np.pi / 2 + 2.0 * np.pi * np.arange(centers) / centers
    return BLOB_RADIUS * np.stack([np.cos(a), np.sin(a)], axis=1)


def make_blobs(n: int, noise: float, rng: np.random.Generator, centers: int = 3):
    """``centers`` isotropic Gaussian blobs; ``noise`` is each blob's standard deviation."""
    y = _balanced_labels(n, centers, rng)
    return _finish(blob_centers(centers)[y], y, noise, rng)


def ring_centers() -> np.ndarray:
    """float64 (8, 2) centres of the ring's modes: evenly spaced on a circle of radius
    ``RING_RADIUS``, the first on the positive x axis."""
    a = 2.0 * np.pi * np.arange(RING_MODES) / RING_MODES
    return RING_RADIUS * np.stack([np.cos(a), np.sin(a)], axis=1)


def make_ring(n: int, noise: float, rng: np.random.Generator):
    """A ring of 8 Gaussians, the standard GAN mode-collapse benchmark (Metz et al. 2017,
    "Unrolled Generative Adversarial Networks", section 3.1, rescaled to the unit square).

    ``RING_MODES`` isotropic Gaussians centred on :func:`ring_centers`; ``noise`` is each
    mode's standard deviation. The class of a point is the index of its mode, so coverage
    of the modes can be measured.
    """
    y = _balanced_labels(n, RING_MODES, rng)
    return _finish(ring_centers()[y], y, noise, rng)


def make_linear(n: int, noise: float, rng: np.random.Generator):
    """Two classes either side of a line through the origin at ``LINEAR_ANGLE``: each clean
    point lies U(-1, 1) along the line and U(LINEAR_MARGIN, 0.8) from it, class 1 on the
    upper-left side. Linearly separable with margin ``LINEAR_MARGIN`` before the jitter;
    the label is that of the clean point."""
    y = _balanced_labels(n, 2, rng)
    along = rng.uniform(-1.0, 1.0, size=n)
    away = rng.uniform(LINEAR_MARGIN, 0.8, size=n) * np.where(y == 1, 1.0, -1.0)
    u = np.array([np.cos(LINEAR_ANGLE), np.sin(LINEAR_ANGLE)])
    normal = np.array([-u[1], u[0]])
    return _finish(along[:, None] * u + away[:, None] * normal, y, noise, rng)
