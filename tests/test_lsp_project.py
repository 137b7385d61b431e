"""The language server re-analyses only the changed file and the files that depend on it (issue 10).

The server hands each document to `features.analyze` with the package's shared
`ProjectIndex`, then re-lints the open documents in `Analysis.related`. An edit
must walk again only the edited file and the files whose forward code reads it,
and give the findings a cold project gives for the same texts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from pylint_distiller.analysis.forward import ForwardAnalysis  # noqa: E402
from pylint_distiller.analysis.project import ProjectIndex, shared_project  # noqa: E402
from pylint_distiller.lsp import features  # noqa: E402
from pylint_distiller.settings import Settings  # noqa: E402

DETECTOR = Path(__file__).parent / "fixtures" / "project" / "detector"


@pytest.fixture
def walked(monkeypatch):
    """Base names of the files whose forward walk runs (a cached walk does not run again)."""
    runs: list[str] = []
    original = ForwardAnalysis.run

    def run(self):
        runs.append(Path(self.module_node.file).name)
        return original(self)

    monkeypatch.setattr(ForwardAnalysis, "run", run)
    return runs


def _lint(project, path: Path, text: str, settings: Settings):
    return features.analyze(text, str(path), settings, project)


def _shape(analysis) -> list[tuple]:
    return [(f.line, f.col, f.symbol, f.klass, f.message) for f in analysis.findings]


def test_an_edit_walks_only_the_changed_file_and_its_dependents(tmp_path, walked):
    root = tmp_path / "detector"
    shutil.copytree(DETECTOR, root)
    model, layers, boxes = (root / n for n in ("model.py", "layers.py", "boxes.py"))
    settings = Settings()
    project = shared_project(str(model), settings)
    texts = {p: p.read_text() for p in (model, layers, boxes)}
    for path, text in texts.items():  # the three documents open in the editor
        _lint(project, path, text, settings)
    assert set(walked) == {"layers.py", "model.py"}  # boxes.py has no module class: nothing to walk

    # boxes.py holds the helpers model.py's forward calls: model.py depends on it, layers.py does not
    walked.clear()
    texts[boxes] = texts[boxes].replace("def decode", "def decode_unused(x):\n    return x\n\n\ndef decode", 1)
    edited = _lint(project, boxes, texts[boxes], settings)
    assert [Path(p).name for p in edited.related] == ["model.py"]
    relinted = {Path(p).name: _lint(project, Path(p), texts[Path(p)], settings) for p in edited.related}
    assert "layers.py" not in walked and set(walked) <= {"boxes.py", "model.py"}

    # editing model.py (which nothing imports) walks it alone; its imports' walks stay cached
    walked.clear()
    texts[model] = texts[model] + "\n# edited\n"
    after = _lint(project, model, texts[model], settings)
    assert sorted(Path(p).name for p in after.related) == ["boxes.py", "layers.py"]  # what it imports
    assert set(walked) == {"model.py"}
    walked.clear()
    for path in after.related:  # their findings may name model.py's classes: linted again, from the caches
        _lint(project, Path(path), texts[Path(path)], settings)
    assert set(walked) <= {"model.py"}

    # the cached results are the ones a cold project gives for the same texts
    cold = ProjectIndex(sorted(str(p) for p in root.glob("*.py")), settings)
    for path, text in texts.items():
        cold.set_text(str(path), text)
    for path in (model, layers, boxes):
        assert _shape(_lint(project, path, texts[path], settings)) == _shape(_lint(cold, path, texts[path], settings))
    assert _shape(relinted["model.py"]) and _shape(edited) == _shape(_lint(cold, boxes, texts[boxes], settings))
