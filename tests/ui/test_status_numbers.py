"""The status bar's numbers: a language model shows its perplexity, a classifier its accuracy."""

from types import SimpleNamespace

from PySide6.QtWidgets import QProgressBar, QStatusBar

from playground.ui.status import StatusNumbers


class _Pace:
    def __init__(self):
        self.progress = QProgressBar()

    def step_text(self, step):
        return f"step {step}"

    def show_progress(self, step):
        pass


def _snap(**metrics):
    return SimpleNamespace(metrics=metrics, step=10, running=False, steps_per_sec=0.0)


def test_a_language_model_shows_perplexity_not_accuracy(qtbot):
    bar = QStatusBar()
    qtbot.addWidget(bar)
    numbers = StatusNumbers(bar, _Pace())
    numbers.show(_snap(loss=1.7, accuracy=0.41, val_accuracy=0.40, perplexity=5.43,
                       val_perplexity=6.08))
    assert numbers.acc_label.text() == "perplexity 5.43  held-out 6.08"


def test_a_classifier_shows_accuracy(qtbot):
    bar = QStatusBar()
    qtbot.addWidget(bar)
    numbers = StatusNumbers(bar, _Pace())
    numbers.show(_snap(loss=0.1, accuracy=0.975, val_accuracy=0.5))
    assert numbers.acc_label.text() == "acc 97.5%  held-out 50.0%"
    assert numbers.loss_label.text() == "loss 0.1000"
    numbers.show(None)
    assert numbers.acc_label.text() == "" and numbers.loss_label.text() == "loss —"
