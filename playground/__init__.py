"""DL Playground: learn deep learning by building it.

Layers (dependencies point down only): ui -> cli -> session -> graph -> project -> data
-> export -> engine. See DESIGN.md.
"""

__version__ = "0.1.0"
