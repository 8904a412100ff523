"""Unexpected exceptions in the app are logged and shown, and the app keeps running."""

from __future__ import annotations

import sys
import threading

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from playground.ui import crash  # noqa: E402

HANG_MS = 60_000  # waits end when their condition holds; this only stops a hang


@pytest.fixture
def hooked(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: shown.append(
        (title, text)))
    crash.install()
    return shown


def test_an_exception_in_a_slot_is_logged_and_shown_and_the_loop_goes_on(hooked, qtbot):
    def broken():
        raise ZeroDivisionError("a bug in a slot")

    QTimer.singleShot(0, broken)
    qtbot.waitUntil(lambda: bool(hooked), timeout=HANG_MS)
    title, text = hooked[0]
    assert title == "Something went wrong" and "ZeroDivisionError: a bug in a slot" in text
    assert str(crash.log_path()) in text
    log = crash.log_path().read_text()
    assert "Traceback" in log and "a bug in a slot" in log and "in broken" in log
    ran = []
    QTimer.singleShot(0, lambda: ran.append(1))  # the event loop still runs
    qtbot.waitUntil(lambda: bool(ran), timeout=HANG_MS)


def test_an_exception_in_another_thread_is_shown_on_the_gui_thread(hooked, qtbot):
    def broken():
        raise RuntimeError("a bug in a thread")

    t = threading.Thread(target=broken)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(hooked), timeout=HANG_MS)
    assert "RuntimeError: a bug in a thread" in hooked[0][1]
    assert "a bug in a thread" in crash.log_path().read_text()
