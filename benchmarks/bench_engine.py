"""One training step of the engine against PyTorch eager on the CPU, per workload.

    python benchmarks/bench_engine.py [--repeat 15] [--steps 10] [--workload mlp cnn ...]

A step is: zero_grad, forward, cross-entropy loss, backward, Adam step; float32. Ours and
torch run in the same process, interleaved block by block (ours, torch, torch, ours, ours,
torch, ...: the order alternates, since whoever runs second in a pair is measured a few
percent faster or slower from cache state) so both see the same machine load, each on one
thread (``torch.set_num_threads(1)`` and ``threadpoolctl.threadpool_limits(1)`` for
numpy's BLAS). Both models start from the same weights: torch's state dict is loaded into
ours. Prints, per workload, the median time per step of each, the median of the per-block
ratios ours/torch (below 1.0: ours is faster) and their 10th-90th percentile spread.

Importing the engine tunes glibc's malloc for the whole process (see
playground/engine/_allocator.py), so torch runs with the same allocator settings; the
header says whether the tuning is on (``PLAYGROUND_MALLOPT=0`` turns it off).

Workloads (the issue's):
    mlp          Linear 64-128-64-10 with ReLU, batch 128.
    cnn          Conv2d(1->16, 3, p1)-ReLU-Conv2d(16->32, 3, p1)-ReLU-MaxPool2d(2)-Flatten-
                 Linear(512->10), batch 128, 1x8x8 input.
    lstm         LSTM(16->64, batch_first) over 32 steps, batch 32; last step ->
                 Linear(64->10).
    transformer  2 x TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128,
                 dropout=0, batch_first), length 16, batch 64 -> mean over the sequence ->
                 Linear(64->10).

A workload whose engine module is not there yet (nn.Conv2d, nn.MaxPool2d, nn.LSTM,
nn.TransformerEncoderLayer) is skipped with a note, so the script runs at any time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.engine import Tensor, nn, optim  # noqa: E402
from playground.engine import functional as F  # noqa: E402

BATCH_SEED = 0


class Skip(Exception):
    """The workload can't run on this engine yet (a module is missing)."""


def _need(*names: str) -> None:
    missing = [n for n in names if not hasattr(nn, n)]
    if missing:
        raise Skip(f"nn.{', nn.'.join(missing)} not in the engine yet")


# -------------------------------------------------------------------------- workloads
# Each builder returns (torch_model, our_model, x, target) with x float32 (N, ...) and
# target int64 (N,) class indices in 0..9.


def _mlp(torch):
    tm = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                             torch.nn.Linear(128, 64), torch.nn.ReLU(),
                             torch.nn.Linear(64, 10))
    om = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                       nn.Linear(64, 10))
    return tm, om, (128, 64)


def _cnn(torch):
    _need("Conv2d", "MaxPool2d", "Flatten")
    tn = torch.nn
    tm = tn.Sequential(tn.Conv2d(1, 16, 3, padding=1), tn.ReLU(),
                       tn.Conv2d(16, 32, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                       tn.Flatten(), tn.Linear(512, 10))
    om = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                       nn.Flatten(), nn.Linear(512, 10))
    return tm, om, (128, 1, 8, 8)


def _lstm(torch):
    _need("LSTM")

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(16, 64, batch_first=True)
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    class OurNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(16, 64, batch_first=True)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    return TorchNet(), OurNet(), (32, 32, 16)


def _transformer(torch):
    _need("TransformerEncoderLayer")
    kw = dict(d_model=64, nhead=4, dim_feedforward=128, dropout=0.0, batch_first=True)

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(torch.nn.TransformerEncoderLayer(**kw),
                                              torch.nn.TransformerEncoderLayer(**kw))
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.layers(x).mean(dim=1))

    class OurNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.TransformerEncoderLayer(**kw),
                                        nn.TransformerEncoderLayer(**kw))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.layers(x).mean(dim=1))

    return TorchNet(), OurNet(), (64, 16, 64)


WORKLOADS: dict[str, Callable] = {"mlp": _mlp, "cnn": _cnn, "lstm": _lstm,
                                  "transformer": _transformer}


# -------------------------------------------------------------------------- timing


def build(name: str, torch) -> tuple[Callable[[], float], Callable[[], float]]:
    """The two step functions of a workload, from the same weights and data; each returns
    its loss. Raises Skip when the engine lacks a module."""
    torch.manual_seed(0)
    tm, om, x_shape = WORKLOADS[name](torch)
    om.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(BATCH_SEED)
    x = rng.standard_normal(x_shape).astype(np.float32)
    t = rng.integers(0, 10, x_shape[0])
    xt, tt = torch.from_numpy(x.copy()), torch.from_numpy(t.copy())
    xo = Tensor(x)
    t_opt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    o_opt = optim.Adam(om.parameters(), lr=1e-3)
    t_ce = torch.nn.functional.cross_entropy

    def torch_step() -> float:
        t_opt.zero_grad()
        loss = t_ce(tm(xt), tt)
        loss.backward()
        t_opt.step()
        return loss.item()

    def our_step() -> float:
        o_opt.zero_grad()
        loss = F.cross_entropy(om(xo), t)
        loss.backward()
        o_opt.step()
        return loss.item()

    return our_step, torch_step


def time_block(step: Callable[[], float], steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def _percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, linearly interpolated."""
    v = sorted(values)
    x = q * (len(v) - 1)
    i = int(x)
    return v[i] if i + 1 >= len(v) else v[i] + (x - i) * (v[i + 1] - v[i])


def run(name: str, torch, repeat: int, steps: int
        ) -> tuple[float, float, float, float, tuple[float, float]]:
    """Median seconds per step (ours, torch), median ratio, first-step loss difference,
    (10th, 90th) percentile of the per-block ratios."""
    ours, theirs = build(name, torch)
    loss_diff = abs(ours() - theirs())  # also a warm-up step for each
    for _ in range(2):
        ours(), theirs()
    t_ours, t_torch, ratios = [], [], []
    for i in range(repeat):
        if i % 2 == 0:
            a = time_block(ours, steps)
            b = time_block(theirs, steps)
        else:
            b = time_block(theirs, steps)
            a = time_block(ours, steps)
        t_ours.append(a)
        t_torch.append(b)
        ratios.append(a / b)
    return (statistics.median(t_ours), statistics.median(t_torch), statistics.median(ratios),
            loss_diff, (_percentile(ratios, 0.1), _percentile(ratios, 0.9)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=15, help="timed blocks per side")
    ap.add_argument("--steps", type=int, default=10, help="training steps per block")
    ap.add_argument("--workload", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = ap.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    from playground.engine import _allocator

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, 1 thread each, float32, "
          f"{args.repeat} blocks x {args.steps} steps, interleaved; malloc tuned: "
          f"{'yes' if _allocator.tune_malloc() else 'no'}")
    print(f"{'workload':<12} {'ours ms':>9} {'torch ms':>9} {'ours/torch':>11} "
          f"{'p10-p90':>10}  note")
    with threadpool_limits(1):
        for name in args.workload:
            try:
                a, b, ratio, diff, (lo, hi) = run(name, torch, args.repeat, args.steps)
            except Skip as e:
                print(f"{name:<12} {'-':>9} {'-':>9} {'-':>11} {'-':>10}  skipped: {e}")
                continue
            note = "" if diff < 1e-4 else f"first-step losses differ by {diff:.2e}"
            print(f"{name:<12} {a * 1e3:>9.3f} {b * 1e3:>9.3f} {ratio:>11.2f} "
                  f"{lo:>4.2f}-{hi:<4.2f}  {note}")


if __name__ == "__main__":
    main()
