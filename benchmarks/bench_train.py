"""Headless training speed of the presets, and whether one BLAS thread helps.

    python benchmarks/bench_train.py [--steps 1000]

Prints steps/s per preset with numpy's default BLAS threads and with one thread, in the
same process, interleaved (A, B, A, B) so both see the same machine load. The CLI and the
worker use one thread; this is where that choice is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from threadpoolctl import threadpool_info, threadpool_limits

from playground.project import load
from playground.session import Session


def steps_per_sec(preset: str, steps: int, threads: int) -> float:
    session = Session(load(preset))
    with threadpool_limits(threads):
        session.train(20)  # warm up
        t0 = time.perf_counter()
        for _ in range(steps):
            session.step()
        return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    print(f"BLAS pools: {blas}")
    print(f"{'preset':<14} {'all cores':>12} {'1 thread':>10}  (median steps/s)")
    for preset in ("xor_mlp", "spiral_mlp", "digits_mlp"):
        default, single = [], []
        for _ in range(args.repeats):
            default.append(steps_per_sec(preset, args.steps, os.cpu_count() or 1))
            single.append(steps_per_sec(preset, args.steps, 1))
        print(f"{preset:<14} {statistics.median(default):>12.0f} "
              f"{statistics.median(single):>10.0f}")


if __name__ == "__main__":
    main()
