"""seq2seq_dates's stated result: held-out exact match of greedy and beam search over
training, for the attention variants the notes suggest trying.

    python benchmarks/bench_seq2seq_dates.py [--variants bahdanau luong_dot luong_general
        none] [--checkpoints 100 200 400 1000] [--widths 2 5 10] [--sequences 1000]
        [--seed 0]

Each variant is the preset with its attention node changed: ``bahdanau`` the preset
itself (AdditiveAttention), ``luong_dot`` / ``luong_general`` a LuongAttention with that
score, ``none`` no attention at all (the decoder's output goes straight to the head, so
the whole date must pass through the encoder's last state). At each checkpoint it decodes
the first ``--sequences`` held-out dates greedily and with each beam width, and prints
exact match, the mean sequence log-probability, how many examples beam search ended
below greedy (by more than float32 rounding, 1e-4 nats) and the seconds taken.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from playground.project import load
from playground.session import Session
from playground.session.decoding import decode, exact_match

H = 64


def variant(name: str):
    proj = load("seq2seq_dates")
    g = copy.deepcopy(proj.graph)
    nodes = {n["id"]: n for n in g["nodes"]}
    if name.startswith("luong"):
        att = nodes["attention"]
        att["type"] = "LuongAttention"
        att["params"] = {"query_dim": H, "key_dim": H, "score": name.split("_")[1],
                         "padding_idx": 0}
    elif name == "none":
        g["nodes"] = [n for n in g["nodes"] if n["id"] not in ("attention", "concat")]
        g["edges"] = [e for e in g["edges"] if not {e["src"], e["dst"]} & {"attention",
                                                                          "concat"}]
        g["edges"].append({"src": "decoder", "src_port": "output", "dst": "combine",
                           "dst_port": "input"})
        next(n for n in g["nodes"] if n["id"] == "combine")["params"]["in_features"] = H
    elif name != "bahdanau":
        raise SystemExit(f"unknown variant {name!r}")
    proj.graph = g
    return proj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+",
                    default=["bahdanau", "luong_dot", "luong_general", "none"])
    ap.add_argument("--checkpoints", nargs="+", type=int, default=[100, 200, 400, 1000])
    ap.add_argument("--widths", nargs="+", type=int, default=[2, 5, 10])
    ap.add_argument("--sequences", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name in args.variants:
        proj = variant(name)
        proj.training.seed = args.seed
        proj.recipe.pop("decoding", None)  # decoded here, at the checkpoints
        s = Session(proj, timeline=False)
        val = s.dataset.val
        x, y = val.input[:args.sequences], val.target[:args.sequences]
        done, train_s = 0, 0.0
        for stop in sorted(args.checkpoints):
            t0 = time.perf_counter()
            for _ in range(stop - done):
                s.step()
            train_s += time.perf_counter() - t0
            done = stop
            t0 = time.perf_counter()
            g = decode(s, x)
            parts = [f"{name:14s} step {stop:5d} ({train_s:5.1f} s)",
                     f"greedy {exact_match(g.tokens, y):.3f} lp {g.log_prob.mean():7.4f} "
                     f"({time.perf_counter() - t0:.1f} s)"]
            for k in args.widths:
                t0 = time.perf_counter()
                b = decode(s, x, beam_width=k)
                below = int(np.sum(b.log_prob < g.log_prob - 1e-4))
                parts.append(f"k={k} {exact_match(b.tokens, y):.3f} lp {b.log_prob.mean():7.4f}"
                             f" below {below} ({time.perf_counter() - t0:.1f} s)")
            print(" | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
