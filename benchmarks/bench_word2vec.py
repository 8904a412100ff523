"""word2vec_skipgram's stated results over longer budgets: for each seed, at each
checkpoint, the held-out loss, the mean cosine similarity of the related word pairs of
tests/session/test_word2vec.py against 200 random pairs (center table), and the five
nearest neighbours of a few chosen words.

    python benchmarks/bench_word2vec.py [--steps 200 1000 2000 5000] [--seeds 0 1 2]
        [--words thou my good love rome first]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from playground.project import load
from playground.session import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "session"))
from test_word2vec import _unit, related_and_random  # noqa: E402


def neighbours(s: Session, word: str, k: int = 5) -> str:
    words = s.dataset.class_names
    w = _unit(s.program.call("center").module.weight.data.astype(np.float64))
    i = words.index(word)
    cos = w @ w[i]
    cos[i] = -np.inf
    return ", ".join(f"{words[j]} {cos[j]:.2f}" for j in np.argsort(-cos)[:k])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[200, 1000, 2000, 5000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--words", nargs="+", default=["thou", "my", "good", "love", "rome",
                                                    "first"])
    args = ap.parse_args()
    for seed in args.seeds:
        project = load("word2vec_skipgram")
        project.training.seed = seed
        s = Session(project, timeline=False)
        t0, done = time.perf_counter(), 0
        for steps in sorted(args.steps):
            final = s.train(steps - done)
            done = steps
            rel, rand = related_and_random(s)
            print(f"seed {seed} step {steps:5d}  val_loss {s.evaluate()['val_loss']:.3f}  "
                  f"related {rel:.3f}  random {rand:.3f}  margin {rel - rand:+.3f}  "
                  f"({time.perf_counter() - t0:.1f} s)")
        for word in args.words:
            print(f"    {word}: {neighbours(s, word)}")


if __name__ == "__main__":
    main()
