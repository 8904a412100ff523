"""The character language models' stated results: train and held-out perplexity over
training for char_rnn, char_lstm and char_gru, against the unigram baseline, and the
gradient ||dl_L/dh_t|| at a few lags before the last step.

    python benchmarks/bench_char_lm.py [--presets char_rnn char_lstm char_gru]
        [--steps 1500] [--every 100] [--clip keep|off|0.25 ...] [--seed 0]

At every ``--every`` steps it prints the mean training perplexity since the last line,
the held-out perplexity (the whole held-out tenth of the corpus, non-overlapping windows),
and log10 of ||dl_L/dh_{L-k}|| / ||dl_L/dh_L|| for k = 8, 32, 63 (see
``playground.session.language_model.grad_norm_through_time``), then the seconds taken.
``--clip off`` trains without gradient clipping, a number sets ``clip_grad_norm``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from playground.data import text
from playground.project import load
from playground.session import Session
from playground.session.language_model import grad_norm_through_time

LAGS = (8, 32, 63)


def run(name: str, steps: int, every: int, clip: str, seed: int) -> None:
    proj = load(name)
    proj.training.seed = seed
    if clip == "off":
        proj.training.clip_grad_norm = None
    elif clip != "keep":
        proj.training.clip_grad_norm = float(clip)
    s = Session(proj, timeline=False)
    ds = s.dataset
    base = text.unigram_perplexity(ds.extras["unigram"], ds.val.target)
    print(f"{name}: clip_grad_norm={proj.training.clip_grad_norm}  unigram baseline "
          f"(held-out) {base:.2f}")
    print(" step  train_ppl  val_ppl  " + "  ".join(f"lag{k:>2}" for k in LAGS) + "   secs")
    t0, losses = time.perf_counter(), []
    for i in range(1, steps + 1):
        losses.append(s.step()["loss"])
        if i % every == 0:
            val = s.evaluate()["val_perplexity"]
            g = grad_norm_through_time(s)["norms"]
            lags = "  ".join(f"{np.log10(g[-1 - k] / g[-1]):5.1f}" for k in LAGS)
            print(f"{i:5d}  {np.exp(np.mean(losses)):9.2f}  {val:7.2f}  {lags}  "
                  f"{time.perf_counter() - t0:6.1f}", flush=True)
            losses = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["char_rnn", "char_lstm", "char_gru"])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--clip", default="keep")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    for name in a.presets:
        run(name, a.steps, a.every, a.clip, a.seed)


if __name__ == "__main__":
    main()
