"""Runs a Project: the training loop and its recipes, stepping, gradient health, the
timeline, history, snapshots and the worker thread."""

from .health import Health, Histogram, NodeHealth
from .history import History, RingBuffer
from .recipes import RecipeError
from .session import Boundary, Session, SessionError, Snapshot
from .stepping import BackwardRecord, ForwardRecord
from .timeline import Timeline, TimelineEntry
from .worker import TrainingWorker

__all__ = ["BackwardRecord", "Boundary", "ForwardRecord", "Health", "Histogram", "History",
           "NodeHealth", "RecipeError", "RingBuffer", "Session", "SessionError", "Snapshot",
           "Timeline", "TimelineEntry", "TrainingWorker"]
