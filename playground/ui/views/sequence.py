"""Sequence input, target and prediction as text, for models with a class per position."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QTextEdit

from ..plots import DARK_PLOT
from .base import Frame, ViewWidget

WRONG_COLOR, RIGHT_COLOR = "#e8575a", "#4ec97b"


class SequenceView(ViewWidget):
    """A few held-out sequences: the input tokens, the target tokens and the model's
    predictions (green where right, red where wrong)."""

    title = "Sequences"
    blurb = "Sequence input, target and prediction as text."

    def __init__(self, colors: dict = DARK_PLOT, parent=None):
        super().__init__(colors, parent)
        self.text = QTextEdit(self)
        self.text.setReadOnly(True)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        self.set_content(self.text)
        self.data: dict | None = None
        self._shown = None

    def render(self, frame: Frame) -> str | None:
        seq = frame.views.get("sequence")
        if seq is None:
            return ("This view shows models that predict a class per position of a sequence "
                    "(targets (N, L)), such as transformer_reverse.")
        if seq is self._shown:
            return None
        self._shown = seq
        self.data = seq
        names = seq["names"]

        def word(t) -> str:
            t = int(t)
            return names[t] if 0 <= t < len(names) else str(t)

        parts = []
        for i in range(len(seq["target"])):
            tgt, pred = seq["target"][i], seq["prediction"][i]
            lines = []
            vocab = seq.get("input_names")
            if seq["input"] is not None and vocab:  # characters, as the string they spell
                lines.append("input  " + html.escape("".join(
                    vocab[t] for t in seq["input"][i] if vocab[t] != "<pad>")))
            elif seq["input"] is not None:
                lines.append("input  " + " ".join(html.escape(word(t)) for t in seq["input"][i]))
            lines.append("target " + " ".join(html.escape(word(t)) for t in tgt))
            cells = [f"<span style='color:{RIGHT_COLOR if p == t else WRONG_COLOR}'>"
                     f"{html.escape(word(p))}</span>" for p, t in zip(pred, tgt)]
            lines.append("output " + " ".join(cells))
            parts.append("<br>".join(lines))
        self.text.setHtml("<pre style='font-family:monospace'>" + "<br><br>".join(parts)
                          + "</pre>")
        right = float(np.mean(np.asarray(seq["prediction"]) == np.asarray(seq["target"])))
        self.set_caption(f"{len(seq['target'])} held-out sequences; {right:.0%} of their "
                         "tokens right", frame)
        return None

    def csv_table(self):
        rows = []
        if self.data is not None:
            names = self.data["names"]
            for i in range(len(self.data["target"])):
                inp = self.data["input"][i] if self.data["input"] is not None else None
                for pos, (t, p) in enumerate(zip(self.data["target"][i],
                                                 self.data["prediction"][i])):
                    x = "" if inp is None or pos >= len(inp) else names[int(inp[pos])] \
                        if int(inp[pos]) < len(names) else int(inp[pos])
                    rows.append((i, pos, x, names[int(t)], names[int(p)]))
        return ("example", "position", "input", "target", "prediction"), rows


__all__ = ["SequenceView"]
