"""The language server honours `distiller-exclude`, .gitignore and `distiller-select`/`-ignore` as `check` does."""

from __future__ import annotations

import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402

from pylint_distiller.lsp import features  # noqa: E402
from pylint_distiller.settings import Settings  # noqa: E402
from tests.test_lsp import BASIC, run, session, uri_of  # noqa: E402

TEXT = BASIC.read_text(encoding="utf-8")
WHOLE = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=60, character=0))


def test_analyze_skips_excluded_documents_and_deselected_rules(tmp_path):
    path = tmp_path / "vendored" / "basic.py"
    excluded = features.analyze(TEXT, str(path), Settings(extend_exclude=("vendored/",), project_root=str(tmp_path)))
    assert excluded.excluded and excluded.findings == [] and features.diagnostics(excluded) == []
    kept = features.analyze(TEXT, str(tmp_path / "src" / "basic.py"),
                            Settings(extend_exclude=("vendored/",), project_root=str(tmp_path), select=("W5704",)))
    assert not kept.excluded and [f.symbol for f in kept.findings] == ["torch-function"]
    # an unsaved buffer has no path to exclude
    assert not features.analyze(TEXT, "untitled:Untitled-1", Settings(exclude=("*",))).excluded


def test_server_publishes_nothing_for_excluded_files_and_only_selected_rules(tmp_path):
    project = tmp_path / "project"
    for rel in ("src/model.py", "vendored/copy.py", "gen/out.py"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(TEXT, encoding="utf-8")
    (project / ".gitignore").write_text("gen/\n", encoding="utf-8")
    (project / "pyproject.toml").write_text(
        '[tool.pylint.distiller]\ndistiller-extend-exclude = ["vendored/"]\n'
        'distiller-select = ["reused-module", "W5704"]\n', encoding="utf-8")

    async def scenario():
        async with session(tmp_path, root=project) as s:
            model = uri_of(project / "src" / "model.py")
            diags = await s.open(model, TEXT)
            assert sorted(d.code for d in diags) == ["reused-module", "torch-function"]
            for rel in ("vendored/copy.py", "gen/out.py"):
                uri = uri_of(project / rel)
                assert await s.open(uri, TEXT) == []
                assert await s.actions(uri, WHOLE, only=[features.FIX_ALL_KIND]) == []
            # client settings override the pyproject's selection
            before = s.count(model)
            s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"pylint-distiller": {"select": ["tensor-operator"]}}))
            assert [d.code for d in await s.diagnostics(model, after=before)] == ["tensor-operator"]

    run(scenario())
