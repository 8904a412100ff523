"""Training speed inside the app (plots live) against headless, for one preset.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_app_train.py [PRESET] [--seconds S]

Shows the main window (offscreen unless a display is set), presses Train, lets the event
loop run for S seconds with the ~30 Hz plot timer live, and reports the worker's steps/s
next to a headless Session's steps/s measured in the same process.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.project import load  # noqa: E402
from playground.session import Session  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402


def headless(preset: str, seconds: float) -> float:
    s = Session(load(preset))
    s.train(20)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        s.step()
        n += 1
    return n / (time.perf_counter() - t0)


def in_app(preset: str, seconds: float) -> tuple[float, int]:
    app = QApplication.instance() or QApplication([])
    w = MainWindow(preset, remember_layout=False)
    w.confirm_discard = lambda: True
    w.resize(1600, 1000)
    w.show()
    w.pace.set_until_stopped(True)  # (measure past the preset's steps)
    w.train()
    start_step, t0 = None, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.001)
        if start_step is None and w.worker is not None and w.worker.snapshot.step > 20:
            start_step, t_start = w.worker.snapshot.step, time.perf_counter()
    end = w.worker.call(lambda s: s.step_count).result(5)
    rate = (end - start_step) / (time.perf_counter() - t_start)
    frames = w.frames_drawn if hasattr(w, "frames_drawn") else -1
    w.shutdown()
    return rate, frames


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("preset", nargs="?", default="spiral_mlp")
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    base = headless(args.preset, args.seconds)
    app_rate, _ = in_app(args.preset, args.seconds)
    print(f"{args.preset}: headless {base:.0f} steps/s, in the app {app_rate:.0f} steps/s "
          f"(ratio {app_rate / base:.2f})")


if __name__ == "__main__":
    main()
