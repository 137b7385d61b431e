"""The analysis shared by the pylint checker, `check`, `fix`, `verify` and the LSP.

`analyze_module` takes an astroid module (pylint hands the checker one; the CLI
parses its own) and returns `Finding`s. It never imports the code it reads.
`analyze_in_project` does the same for one file of a `ProjectIndex` (several
files or a directory): imports of the project are followed (`project.py`,
`crossfile.py`).
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.classes import ModuleIndex
from pylint_distiller.analysis.forward import ForwardAnalysis
from pylint_distiller.analysis.imports import ImportMap
from pylint_distiller.analysis.positions import Positions
from pylint_distiller.analysis.report import Reporter
from pylint_distiller.findings import Finding
from pylint_distiller.settings import Settings


def module_text(module: nodes.Module) -> str | None:
    """The source text behind a module node, when it holds non-ASCII (for columns)."""
    data = module.file_bytes
    if data is None and module.file:
        try:
            with open(module.file, "rb") as stream:
                data = stream.read()
        except OSError:
            return None
    if data is None:
        return None
    if isinstance(data, str):
        return data
    if data.isascii():
        return None  # byte offsets are character offsets
    return data.decode("utf-8", errors="replace")


def analyze_module(module: nodes.Module, settings: Settings | None = None, text: str | None = None,
                   path: str | None = None) -> list[Finding]:
    settings = settings or Settings()
    if text is None:
        text = module_text(module)
    imports = ImportMap(module)
    index = ModuleIndex(module, imports, settings.module_bases)
    if not index.module_classes():
        return []
    walk = ForwardAnalysis(index, module)
    walk.run()
    reporter = Reporter(index, walk, Positions(text), settings, path or module.file or "<string>")
    return reporter.run()


def analyze_in_project(project, path: str, settings: Settings | None = None) -> list[Finding]:
    """Findings of `path` as part of `project` (a `ProjectIndex`); see `crossfile.py`."""
    from pylint_distiller.analysis.crossfile import analyze_in_project as run

    return run(project, path, settings)
