"""The rewrite engine (`pylint-distiller fix`), usable without pylint running."""

from pylint_distiller.fixer.engine import FixError, FixResult, fix_source

__all__ = ["FixError", "FixResult", "fix_source"]
