"""Colours of the app: a dark theme (the default) and a light one.

A :class:`Theme` is plain data (hex strings), so widgets, the canvas and the plots all read
one source. :func:`apply_theme` pushes a theme into Qt's palette and pyqtgraph's defaults;
the canvas reads :func:`current_theme` when it is built and ``CanvasView.set_theme`` later.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette

#: Header colour of a node, by its palette category.
CATEGORY_COLORS: dict[str, str] = {
    "Data": "#2f8a6e",
    "Layers": "#3b6fb6",
    "Activations": "#8455b0",
    "Losses": "#b7503c",
    "Convolution": "#2d8a9a",
    "Recurrent": "#a97a25",
    "Attention": "#b0457c",
    "Normalisation": "#5f8a34",
    "Math": "#5d6b80",
    "Generative": "#9c5f2e",
    "Blocks": "#4a5a9c",
}

FALLBACK_CATEGORY_COLOR = "#5f6878"


def category_color(category: str) -> QColor:
    """The header colour of ``category``; a neutral slate for categories without one."""
    return QColor(CATEGORY_COLORS.get(category, FALLBACK_CATEGORY_COLOR))


@dataclass(frozen=True)
class Theme:
    """One colour scheme. Every field is a ``#rrggbb`` (or ``#aarrggbb``) string."""

    name: str
    dark: bool
    # widgets (QPalette)
    window: str
    window_text: str
    base: str
    alternate_base: str
    text: str
    button: str
    button_text: str
    highlight: str
    highlighted_text: str
    disabled_text: str
    tooltip_base: str
    tooltip_text: str
    link: str
    # plots (pyqtgraph)
    plot_background: str
    plot_foreground: str
    # canvas
    canvas_background: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    node_shadow: str
    node_title: str      # header text, on the category colour
    node_text: str       # port labels, param values
    node_dim_text: str   # param names, the name beside the type
    shape_text: str      # "(N, 64)" beside output ports
    selection: str       # outline of selected nodes and wires
    glow: str            # the highlighted (stepped) node
    error: str           # invalid nodes and wires into them
    blocked: str         # nodes waiting on an upstream error
    wire: str
    wire_label_bg: str
    wire_label_text: str
    port_tensor: str
    port_index: str
    port_scalar: str
    rubber_band: str


DARK = Theme(
    name="dark", dark=True,
    window="#25272b", window_text="#dfe1e5", base="#1c1d20", alternate_base="#25272b",
    text="#dfe1e5", button="#2f3136", button_text="#dfe1e5", highlight="#3d7bd9",
    highlighted_text="#ffffff", disabled_text="#6d7178", tooltip_base="#2f3136",
    tooltip_text="#e8eaed", link="#6ea8fe",
    plot_background="#1c1d20", plot_foreground="#b8bcc4",
    canvas_background="#1b1c1f", grid_minor="#232529", grid_major="#2b2e33",
    node_body="#2c2e33", node_border="#3c3f46", node_shadow="#8c000000", node_title="#ffffff",
    node_text="#d4d7dd", node_dim_text="#8d929b", shape_text="#7fb2ff",
    selection="#f0a030", glow="#4dd0e1", error="#ef5350", blocked="#a08a5a",
    wire="#8d97a8", wire_label_bg="#26282d", wire_label_text="#c9d3e3",
    port_tensor="#6fa8f0", port_index="#e8c547", port_scalar="#b99af0",
    rubber_band="#3d7bd9",
)

LIGHT = Theme(
    name="light", dark=False,
    window="#f1f2f4", window_text="#1f2328", base="#ffffff", alternate_base="#f6f7f9",
    text="#1f2328", button="#e8eaed", button_text="#1f2328", highlight="#2f6fd1",
    highlighted_text="#ffffff", disabled_text="#9aa0a8", tooltip_base="#ffffff",
    tooltip_text="#1f2328", link="#1f5fbf",
    plot_background="#ffffff", plot_foreground="#3a3f47",
    canvas_background="#eceef1", grid_minor="#e3e6ea", grid_major="#d6dae0",
    node_body="#ffffff", node_border="#c4c9d1", node_shadow="#38000000", node_title="#ffffff",
    node_text="#2a2e35", node_dim_text="#7a808a", shape_text="#2563c9",
    selection="#e08a00", glow="#00a5bd", error="#d32f2f", blocked="#9a7b3c",
    wire="#7d8696", wire_label_bg="#ffffff", wire_label_text="#2a3340",
    port_tensor="#3f86e0", port_index="#d0a415", port_scalar="#8e6bd8",
    rubber_band="#2f6fd1",
)

_current: Theme = DARK


def current_theme() -> Theme:
    """The theme last passed to :func:`apply_theme` (``DARK`` before any call)."""
    return _current


def apply_theme(app, theme: Theme = DARK) -> None:
    """Use ``theme`` for ``app`` (a QApplication): Fusion style, its QPalette, and
    pyqtgraph's default background/foreground for plots created afterwards."""
    global _current
    _current = theme
    app.setStyle("Fusion")
    pal = QPalette()
    c = QColor
    for role, value in (
            (QPalette.Window, theme.window), (QPalette.WindowText, theme.window_text),
            (QPalette.Base, theme.base), (QPalette.AlternateBase, theme.alternate_base),
            (QPalette.Text, theme.text), (QPalette.Button, theme.button),
            (QPalette.ButtonText, theme.button_text), (QPalette.Highlight, theme.highlight),
            (QPalette.HighlightedText, theme.highlighted_text),
            (QPalette.ToolTipBase, theme.tooltip_base), (QPalette.ToolTipText, theme.tooltip_text),
            (QPalette.Link, theme.link), (QPalette.BrightText, theme.error),
            (QPalette.PlaceholderText, theme.disabled_text)):
        pal.setColor(role, c(value))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, c(theme.disabled_text))
    app.setPalette(pal)
    try:
        import pyqtgraph as pg
    except ImportError:  # pragma: no cover - pyqtgraph is a dependency
        return
    pg.setConfigOptions(background=theme.plot_background, foreground=theme.plot_foreground,
                        antialias=True)
