"""Models out of and into the app: ONNX export and import, PyTorch code export.

Built from ``graph`` and ``engine`` only; never imports ``ui`` (tests/test_layers.py). The
``onnx`` package is needed only by the ONNX exporter and importer, and is imported lazily
there: the app's own dependencies do not include it.
"""
