"""The long run of the Session and training fuzzer (tests/session/test_fuzz_session.py):
random valid graphs built through GraphModel, saved and reopened, trained a few steps in a
Session (some also stepped forward and backward), with their run-time shapes checked
against inference.

    python benchmarks/fuzz_session.py [--start 0] [--seeds 5000] [--stepping-every 4]
                                      [--generative]

``--generative`` fuzzes mutated GAN and VAE presets instead (tests' generative_project).

Seeds ``0 .. SUITE_SEEDS-1`` are the suite's; the default range starts after them. Prints
the outcome counts (trained, diverged, the typed refusals, graphs that did not come out
valid) and each finding with its graph as JSON; exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "session")]


def main() -> int:
    import test_fuzz_session as fuzz

    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=int, default=None,
                    help="first seed (default: the first after the suite's)")
    ap.add_argument("--seeds", type=int, default=5000)
    ap.add_argument("--stepping-every", type=int, default=4)
    ap.add_argument("--generative", action="store_true",
                    help="mutated GAN and VAE presets instead of random supervised graphs")
    args = ap.parse_args()
    if args.start is None:
        args.start = fuzz.SUITE_GENERATIVE_SEEDS if args.generative else fuzz.SUITE_SEEDS
    t0 = time.perf_counter()
    outcomes, findings = fuzz.run(range(args.start, args.start + args.seeds),
                                  stepping_every=args.stepping_every,
                                  generative=args.generative,
                                  log=lambda text: print(text, flush=True))
    seconds = time.perf_counter() - t0
    print(f"seeds {args.start}..{args.start + args.seeds - 1} in {seconds:.0f} s: "
          f"{dict(outcomes)}; {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
