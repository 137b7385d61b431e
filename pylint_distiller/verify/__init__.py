"""`pylint-distiller verify`: run a model once and see what a quantizer would miss.

This is the only part of pylint-distiller that executes user code; it and
`pylint_distiller.calibration` (used by the README's PTQ recipe) are the only parts
that import torch. The rest of the package (the pylint plugin, `fix`) must stay
importable without torch, so the names below are loaded lazily: importing
`pylint_distiller.verify.command` (the CLI entry) costs nothing until it runs.

* `trace_model(model, inputs)` -> `RuntimeReport`: one traced forward pass.
* `cross_check(report, static_findings)` -> `CrossCheck`: runtime vs static.
* `run_verify(argv)` -> exit code: the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pylint_distiller.verify.command import run_verify
    from pylint_distiller.verify.crosscheck import CrossCheck, cross_check
    from pylint_distiller.verify.runtime import RuntimeReport, trace_model

__all__ = ["CrossCheck", "RuntimeReport", "cross_check", "run_verify", "trace_model"]

_LAZY = {
    "trace_model": "runtime",
    "RuntimeReport": "runtime",
    "cross_check": "crosscheck",
    "CrossCheck": "crosscheck",
    "run_verify": "command",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
