"""pylint-distiller: prepare PyTorch models for module-level quantization.

`pylint --load-plugins=pylint_distiller` loads the checker; `pylint-distiller`
(or `python -m pylint_distiller`) runs check / fix / verify / lsp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pylint.lint import PyLinter


def register(linter: "PyLinter") -> None:
    """pylint's plugin hook."""
    from pylint_distiller.checker import register as _register

    _register(linter)
