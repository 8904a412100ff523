"""gan_ring's stated result over seeds and BLAS kernels: modes covered after its steps.

    python benchmarks/bench_gan_modes.py [--seeds 0 1 2 3 4] [--kernels SkylakeX Haswell]
                                         [--collapse] [--steps N]

Each run is a fresh process (OpenBLAS picks its kernel when numpy loads, from
``OPENBLAS_CORETYPE``; without ``--kernels`` the machine's own is used). A GAN is chaotic:
kernels that round float32 matrix products differently send one seed down different runs,
which is why a preset's result is checked over several seeds and kernels, not one.
``--collapse`` runs the setting the preset's notes give for mode collapse instead.
Prints one line per run and a summary.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

#: The notes' mode-collapse setting: a discriminator that learns 10x slower than the
#: generator (tests/session/test_view_presets.py checks the same).
GAN_RING_COLLAPSE = {"d_optimizer": {"optimizer": "Adam", "lr": 0.0001, "betas": [0.5, 0.999]}}

CHILD = r"""
import json, sys, time
from threadpoolctl import threadpool_info
from playground.project import load
from playground.session import Session
seed, steps, collapse = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
proj = load("gan_ring")
proj.training.seed = seed
if collapse:
    proj.recipe.update(json.loads(sys.argv[4]))
s = Session(proj, timeline=False)
t0 = time.perf_counter()
f = s.train(steps or s.training.steps)
kernel = next((i.get("architecture") for i in threadpool_info() if i["user_api"] == "blas"), "?")
print(json.dumps({"modes": f["modes_covered"], "high_quality": f["high_quality"],
                  "seconds": time.perf_counter() - t0, "kernel": kernel}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--kernels", nargs="+", default=[None],
                    help="OPENBLAS_CORETYPE values, e.g. SkylakeX Haswell Zen Prescott")
    ap.add_argument("--collapse", action="store_true", help="the mode-collapse setting")
    ap.add_argument("--steps", type=int, default=0, help="default: the preset's")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    def run(job):
        seed, kernel = job
        env = dict(os.environ)
        if kernel:
            env["OPENBLAS_CORETYPE"] = kernel
        out = subprocess.run([sys.executable, "-c", CHILD, str(seed), str(args.steps),
                              "1" if args.collapse else "0", json.dumps(GAN_RING_COLLAPSE)],
                             env=env, capture_output=True, text=True, check=True)
        return seed, kernel, json.loads(out.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run, itertools.product(args.seeds, args.kernels)))
    for seed, kernel, r in results:
        print(f"seed {seed}  kernel {r['kernel']:<10} modes {r['modes']:.0f}/8  "
              f"high_quality {r['high_quality']:.3f}  {r['seconds']:.1f} s")
    full = sum(r["modes"] == 8 for _, _, r in results)
    print(f"{'collapse setting' if args.collapse else 'preset'}: {full}/{len(results)} runs "
          "cover all 8 modes")


if __name__ == "__main__":
    main()
