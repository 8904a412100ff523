"""The long run of the graph and undo-stack fuzzer (tests/graph/graph_machine.py), and of
the file fuzzer (tests/project/hostile.py), beyond what the suite runs.

    QT_QPA_PLATFORM=offscreen python benchmarks/fuzz_graph.py [--seeds 1 2 3] \
        [--examples 300] [--steps 50] [--files 200] [--forward]

Each seed is one hypothesis run (random, not derandomized: ``--seeds 0`` is the suite's
derandomized run). Prints the steps run, the typed errors the checks raised (the app's
refusals: expected), and for a failure the shrunk failing sequence. ``--files N`` also
fuzzes N mutated files per preset base with each seed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "graph"), str(ROOT / "tests" / "project")]


def run_machine(seed: int, examples: int, steps: int, forward: bool = False) -> bool:
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    import graph_machine as gm

    gm.GraphMachine.steps = 0
    gm.GraphMachine.RUN_FORWARD = forward
    gm.GraphMachine.signatures = Counter()
    random.seed(seed)  # hypothesis draws a random run's seed from the global generator
    t0 = time.perf_counter()
    ok = True
    try:
        run_state_machine_as_test(gm.GraphMachine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
            derandomize=seed == 0, suppress_health_check=list(HealthCheck)))
    except Exception:  # noqa: BLE001 - a finding: print it and go on with the next seed
        ok = False
        traceback.print_exc()
    print(f"seed {seed}: {gm.GraphMachine.steps} steps in {time.perf_counter() - t0:.1f} s, "
          f"{'no failure' if ok else 'FAILED'}; refusals {dict(gm.GraphMachine.signatures)}",
          flush=True)
    return ok


def run_files(seed: int, per_base: int) -> bool:
    from hostile import mutations

    from playground.graph import GraphFormatError, GraphModel, summary
    from playground.project import ProjectError, load

    rng = random.Random(seed)
    found: Counter = Counter()
    n = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.json"
        for text, where, token, name in mutations(rng, per_base):
            n += 1
            path.write_text(text, encoding="utf-8")
            try:
                summary(GraphModel.from_dict(load(path).graph))
            except (ProjectError, GraphFormatError):
                pass
            except Exception as exc:  # noqa: BLE001 - a finding
                found[f"{type(exc).__name__}: {exc}"[:120] + f" ({name} {where} {token[:20]})"] += 1
    print(f"seed {seed}: {n} files in {time.perf_counter() - t0:.1f} s, "
          f"{sum(found.values())} escaped", flush=True)
    for sig, count in found.most_common():
        print(f"  {count} x {sig}")
    return not found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--files", type=int, default=0)
    parser.add_argument("--forward", action="store_true",
                        help="also compile valid graphs and run them forward on random data, "
                             "checking every output's shape against inference")
    args = parser.parse_args(argv)
    ok = True
    for seed in args.seeds:
        ok &= run_machine(seed, args.examples, args.steps, args.forward)
        if args.files:
            ok &= run_files(seed, args.files)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
