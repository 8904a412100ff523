"""Training in the app with every view open, against headless; and the UI thread's
event-loop latency.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [PRESET] [--seconds S]
        [--rounds R] [--layout tabbed|floating]

Shows the main window (offscreen unless a display is set) with every view dock open
(``--layout floating`` also floats each dock as its own visible window, so that every view
paints, not only the front tab of each group), selects a node, presses Train and runs the
real event loop for S seconds. Headless and in-app runs alternate R times and the medians
are compared, so that load from other processes hits both alike.

Latency: a repeating precise QTimer (``--probe-ms``, 10 ms) records how late each timeout
fires after the previous one (the time the event loop was busy elsewhere: painting, ticks,
or waiting for the interpreter lock held by the training thread); p50 and p99 over the
run. A 1 ms probe is itself a load: each beat takes the interpreter lock from training.

Goals (issue 5): in-app steps/s ≥ 0.8 of headless; p99 latency ≤ 33 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from playground.project import load  # noqa: E402
from playground.session import Session  # noqa: E402
from playground.ui.main_window import MainWindow  # noqa: E402

WARMUP_STEPS = 20


def headless(preset: str, seconds: float) -> float:
    s = Session(load(preset))
    s.train(WARMUP_STEPS)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        s.step()
        n += 1
    return n / (time.perf_counter() - t0)


def in_app(preset: str, seconds: float, layout: str, select: str | None,
           probe_ms: int = 10) -> tuple[float, np.ndarray, int]:
    """Returns (steps/s, event-loop lateness samples in ms, views drawn)."""
    app = QApplication.instance() or QApplication([])
    w = MainWindow(preset, remember_layout=False)
    w.confirm_discard = lambda: True
    w.resize(1600, 1000)
    c = w.live_views
    c.show_all = True
    w.show()
    for dock in c.docks.values():
        dock.show()
        if layout == "floating":
            dock.setFloating(True)
            dock.resize(500, 380)
    if select:
        w.canvas.select_node(select)
    drawn = [0]
    for view in c.views.values():  # count the frames each view really draws
        original = view.render

        def counted(frame, _original=original):
            drawn[0] += 1
            return _original(frame)
        view.render = counted
    lateness: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def beat():
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - probe_ms))
        last[0] = now
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(probe_ms)
    timer.timeout.connect(beat)
    w.pace.set_until_stopped(True)  # (measure past the preset's steps)
    w.train()
    start: list = []

    def check_start():
        if not start and w.worker is not None and w.worker.snapshot.step > WARMUP_STEPS:
            start.extend([w.worker.snapshot.step, time.perf_counter()])
            lateness.clear()
            last[0] = clock.nsecsElapsed()
            timer.start()
            QTimer.singleShot(int(seconds * 1000), lambda: app.exit(0))  # (quit closes windows)
    poll = QTimer()
    poll.setInterval(20)
    poll.timeout.connect(check_start)
    poll.start()
    app.exec()
    timer.stop()
    poll.stop()
    end = w.worker.call(lambda s: s.step_count).result(10)
    rate = (end - start[0]) / (time.perf_counter() - start[1])
    w.shutdown()
    w.close()
    w.deleteLater()
    app.processEvents()
    return rate, np.array(lateness), drawn[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("preset", nargs="?", default="cnn_digits")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layout", choices=("tabbed", "floating"), default="floating")
    ap.add_argument("--select", default="conv1", help="node to select (the views follow)")
    ap.add_argument("--probe-ms", type=int, default=10,
                    help="interval of the latency probe timer (each beat takes the "
                         "interpreter lock from training: 1 ms beats cost it ~10%%)")
    args = ap.parse_args()
    QApplication.instance() or QApplication([])
    bases, apps, lates, frames = [], [], [], []
    for r in range(args.rounds):
        bases.append(headless(args.preset, args.seconds))
        rate, late, drawn = in_app(args.preset, args.seconds, args.layout, args.select,
                                   args.probe_ms)
        apps.append(rate)
        lates.append(late)
        frames.append(drawn / args.seconds)
        print(f"round {r + 1}: headless {bases[-1]:.0f} steps/s, in the app {rate:.0f} steps/s "
              f"(ratio {rate / bases[-1]:.2f}); latency p50 {np.percentile(late, 50):.1f} ms, "
              f"p99 {np.percentile(late, 99):.1f} ms; {drawn / args.seconds:.0f} view draws/s",
              flush=True)
    base, app_rate = statistics.median(bases), statistics.median(apps)
    late = np.concatenate(lates)
    print(f"{args.preset} ({args.layout}, every view open): headless {base:.0f} steps/s, "
          f"in the app {app_rate:.0f} steps/s, ratio {app_rate / base:.2f} (goal ≥ 0.8); "
          f"event-loop latency p50 {np.percentile(late, 50):.1f} ms, "
          f"p99 {np.percentile(late, 99):.1f} ms (goal ≤ 33 ms)")


if __name__ == "__main__":
    main()
