"""Where the shipped files are: the presets and the data under ``assets/``.

In the source tree (and an editable install) they sit at the repo's top, ``presets/`` and
``assets/``; a wheel (``pip install .``) installs them inside the package as
``playground/presets`` and ``playground/assets`` (see ``[tool.setuptools.package-dir]`` in
pyproject.toml). Imports nothing of the project, so every layer may use it.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """The shipped file or folder ``parts`` (e.g. ``("presets",)``,
    ``("assets", "digits", "digits.npz")``): inside the installed package if it is there,
    else at the top of the source tree. A path that exists nowhere is returned as the
    installed location, so that the caller's "not found" names it."""
    for base in (_PACKAGE, _PACKAGE.parent):
        path = base.joinpath(*parts)
        if path.exists():
            return path
    return _PACKAGE.joinpath(*parts)
