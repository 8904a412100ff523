"""Runs a Project: the training loop, history, snapshots and the worker thread."""

from .history import History, RingBuffer
from .session import Boundary, Session, SessionError, Snapshot
from .worker import TrainingWorker

__all__ = ["Boundary", "History", "RingBuffer", "Session", "SessionError", "Snapshot",
           "TrainingWorker"]
