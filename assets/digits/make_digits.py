"""One-time tool: write ``assets/digits/digits.npz`` from scikit-learn's copy of UCI optdigits.

This script is NOT part of the ``playground`` package and nothing imports it. scikit-learn is
not a project dependency; it is needed only to run this script by hand:

    python assets/digits/make_digits.py

Output (``np.savez_compressed``, loadable with ``allow_pickle=False``):

- ``images``    uint8 (N, 8, 8), N = 1797, pixel values 0..16 (count of "on" pixels in a
  4x4 block of the original 32x32 bitmap; 0 = background, 16 = full ink)
- ``target``    uint8 (N,), digit class 0..9
- ``val_index`` int64 (V,), sorted indices into ``images`` of the held-out split (V = 359).
  Stratified: for each class c with n_c scans, round(0.2 * n_c) scans are picked without
  replacement by ``numpy.random.default_rng(SEED)``, classes visited in order 0..9.

It prints a SHA-256 of the three arrays' bytes; tests/data/test_data.py pins that digest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SEED = 1998
VAL_FRACTION = 0.2
OUT = Path(__file__).resolve().with_name("digits.npz")


def stratified_val_index(target: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted int64 indices of a per-class ``fraction`` of ``target`` (N,), chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(target):
        members = np.flatnonzero(target == c)
        n_val = int(np.rint(fraction * members.size))
        picked.append(rng.choice(members, size=n_val, replace=False))
    return np.sort(np.concatenate(picked)).astype(np.int64)


def digest(images: np.ndarray, target: np.ndarray, val_index: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (images, target, val_index):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def main() -> None:
    from sklearn.datasets import load_digits  # one-time use; not a project dependency

    d = load_digits()
    raw = d.images
    if not np.array_equal(raw, np.rint(raw)) or raw.min() < 0 or raw.max() > 16:
        raise SystemExit("unexpected pixel values in sklearn digits (want integers 0..16)")
    images = raw.astype(np.uint8)
    target = d.target.astype(np.uint8)
    val_index = stratified_val_index(target, VAL_FRACTION, SEED)

    np.savez_compressed(OUT, images=images, target=target, val_index=val_index)
    print(f"wrote {OUT}")
    print(f"images {images.shape} {images.dtype}, target {target.shape}, val {val_index.size}")
    print("val per class:", np.bincount(target[val_index], minlength=10).tolist())
    print("sha256:", digest(images, target, val_index))


if __name__ == "__main__":
    main()
