"""The status bar's numbers: the step against the run's target (with the pace's progress
bar, see :mod:`.pace`), the loss, the accuracy and the training speed."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar


class StatusNumbers:
    """Permanent widgets on the right of ``status`` (a QStatusBar), in order: step, the
    ``pace``'s progress bar, loss, accuracy (train and held-out; a language model's perplexity instead),
    steps per second.

    Attributes:
        step_label, loss_label, acc_label, speed_label: the QLabels.
    """

    def __init__(self, status: QStatusBar, pace):
        self.pace = pace
        self.step_label = QLabel("step 0")
        self.loss_label = QLabel("loss —")
        self.acc_label = QLabel("")
        self.speed_label = QLabel("")
        for w in (self.step_label, pace.progress, self.loss_label, self.acc_label,
                  self.speed_label):
            w.setMinimumWidth(90)
            w.setContentsMargins(8, 0, 8, 0)
            status.addPermanentWidget(w)

    def show(self, snap) -> None:
        """Show ``snap``'s numbers (a Snapshot), or a fresh document's for None."""
        m = snap.metrics if snap is not None else {}
        step = snap.step if snap is not None else 0
        self.step_label.setText(self.pace.step_text(step))
        self.pace.show_progress(step)
        self.loss_label.setText(f"loss {m['loss']:.4f}" if "loss" in m else "loss —")
        acc = []
        if "perplexity" in m:  # a language model: perplexity says more than accuracy
            acc.append(f"perplexity {m['perplexity']:.2f}")
            if "val_perplexity" in m:
                acc.append(f"held-out {m['val_perplexity']:.2f}")
        elif "accuracy" in m:
            acc.append(f"acc {m['accuracy']:.1%}")
        if "val_accuracy" in m and "perplexity" not in m:
            acc.append(f"held-out {m['val_accuracy']:.1%}")
        self.acc_label.setText("  ".join(acc))
        self.speed_label.setText(f"{snap.steps_per_sec:,.0f} steps/s"
                                 if snap is not None and snap.running else "")


__all__ = ["StatusNumbers"]
