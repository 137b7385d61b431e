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
    """Parse text into an astroid tree, without inference and without astroid's cache.

    `AstroidBuilder.string_build` also runs astroid's post-build step, which infers
    the class of every `self.x = ...` target: that imports and parses torch (and
    a transformers file's whole base-class chain) from disk, seconds of work the
    analysis never needs, and it caches unsaved editor buffers under their module
    name. So the tree is built by the rebuilder alone, and only the cheap part of
    the post-build step (from-imported names into the scope's locals) is redone.
    """
    builder = astroid.builder.AstroidBuilder(astroid.MANAGER, apply_transforms=False)
    modname = _modname(path)
    abspath = path if os.path.isabs(path) else None
    try:
        module, rebuilder = builder._data_build(text, modname, abspath)
        from_nodes = rebuilder._import_from_nodes
    except AttributeError:  # astroid changed its private API: fall back to the public one
        return builder.string_build(text, modname=modname, path=abspath)
    for from_node, _ in from_nodes:
        for name, asname in from_node.names:
            if name != "*":
                from_node.parent.set_local(asname or name, from_node)
    return module


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
