"""Library entry points: analyse source text or files without running pylint."""

from __future__ import annotations

import os

import astroid
from astroid import nodes

from pylint_distiller.analysis import analyze_module
from pylint_distiller.findings import Finding
from pylint_distiller.settings import Settings
from pylint_distiller.sources import read_source


def parse(text: str, path: str = "<string>") -> nodes.Module:
    """Parse without touching astroid's module cache (the text may be unsaved)."""
    builder = astroid.builder.AstroidBuilder(astroid.MANAGER, apply_transforms=False)
    return builder.string_build(text, modname=_modname(path), path=path if os.path.isabs(path) else None)


def _modname(path: str) -> str:
    base = os.path.splitext(os.path.basename(path))[0] or "module"
    return base if base.isidentifier() else "module"


def analyze_source(text: str, path: str = "<string>", settings: Settings | None = None) -> list[Finding]:
    """Findings for source text. Raises SyntaxError (astroid's AstroidSyntaxError) if it does not parse."""
    module = parse(text, path)
    return analyze_module(module, settings, text=text, path=path)


def analyze_file(path: str, settings: Settings | None = None) -> list[Finding]:
    """Findings for a file on disk (decoded as Python does: BOM, coding cookie, UTF-8)."""
    source = read_source(path)
    return analyze_source(source.text, path, settings)
