"""The language server, driven by pygls's client over stdio like an editor does.

Each session starts `python -m pylint_distiller lsp` as a subprocess. Every wait
is bounded; diagnostics are matched by document version, so the tests do not
depend on timing (except the debounce test, which only needs three messages to
be sent within 300 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import BaseLanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from pylint_distiller.api import analyze_source  # noqa: E402
from pylint_distiller.catalogue import RULES  # noqa: E402
from pylint_distiller.fixer.engine import fix_source  # noqa: E402
from pylint_distiller.lsp.text import Lines, diff_edits  # noqa: E402
from pylint_distiller.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "examples" / "basic_module.py"
WAIT = 30.0  # seconds for any single server answer
SCENARIO = 120.0  # seconds for a whole test


# ----------------------------------------------------------------- helpers
def utf16_col(line: str, col: int) -> int:
    """Code-point column -> UTF-16 code units (computed independently of the server)."""
    return len(line[:col].encode("utf-16-le")) // 2


def from_utf16(line: str, units: int) -> int:
    count = 0
    for i, ch in enumerate(line):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


def utf8_col(line: str, col: int) -> int:
    return len(line[:col].encode("utf-8"))


def offset_of(text: str, pos: types.Position, encoding: str = "utf-16") -> int:
    lines = text.split("\n")  # the test documents use LF only
    if pos.line >= len(lines):
        return len(text)
    line = lines[pos.line]
    if encoding == "utf-8":
        col = len(line.encode("utf-8")[:pos.character].decode("utf-8"))
    else:
        col = from_utf16(line, pos.character)
    return sum(len(lines[i]) + 1 for i in range(pos.line)) + col


def apply_edit(text: str, edit: types.WorkspaceEdit, uri: str, encoding: str = "utf-16") -> str:
    """Apply a WorkspaceEdit for one document the way an editor does."""
    if edit.document_changes:
        assert len(edit.document_changes) == 1
        change = edit.document_changes[0]
        assert change.text_document.uri == uri
        edits = list(change.edits)
    else:
        assert list(edit.changes) == [uri]
        edits = list(edit.changes[uri])
    spans = sorted(((offset_of(text, e.range.start, encoding), offset_of(text, e.range.end, encoding), i, e.new_text)
                    for i, e in enumerate(edits)), key=lambda s: (s[0], s[1] != s[0], s[2]))
    out, pos = [], 0
    for start, end, _, new in spans:
        assert start >= pos, "overlapping edits"
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def finding_for(text: str, diag: types.Diagnostic, settings: Settings | None = None):
    """The analysis finding behind a diagnostic."""
    line_text = text.split("\n")[diag.range.start.line]
    col = from_utf16(line_text, diag.range.start.character)
    matches = [f for f in analyze_source(text, "doc.py", settings)
               if f.symbol == diag.code and f.line == diag.range.start.line + 1 and f.col == col]
    assert len(matches) == 1, (diag, matches)
    return matches[0]


def same_finding(target):
    return lambda f: (f.symbol, f.line, f.col) == (target.symbol, target.line, target.col)


class Session:
    """A client connected to a server subprocess."""

    def __init__(self, client: BaseLanguageClient, log: Path) -> None:
        self.client = client
        self.log = log
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.changed = asyncio.Condition()
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}

    async def on_publish(self, params: types.PublishDiagnosticsParams) -> None:
        async with self.changed:
            self.published.setdefault(params.uri, []).append(params)
            self.changed.notify_all()

    async def diagnostics(self, uri: str, version: int | None = None, after: int = 0) -> list[types.Diagnostic]:
        """The first publication for `uri` (at `version`, if given) past the first `after` ones."""
        def ready():
            for params in self.published.get(uri, [])[after:]:
                if version is None or params.version == version:
                    return params
            return None

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(ready), WAIT)
            return list(ready().diagnostics)

    def count(self, uri: str) -> int:
        return len(self.published.get(uri, []))

    async def open(self, uri: str, text: str) -> list[types.Diagnostic]:
        self.versions[uri], self.texts[uri] = 1, text
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
        return await self.diagnostics(uri, 1)

    def send_change(self, uri: str, text: str) -> int:
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
        return self.versions[uri]

    async def change(self, uri: str, text: str) -> list[types.Diagnostic]:
        version = self.send_change(uri, text)
        return await self.diagnostics(uri, version)

    async def actions(self, uri: str, rng: types.Range, diagnostics=(), only=None) -> list[types.CodeAction]:
        result = await asyncio.wait_for(self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=rng,
            context=types.CodeActionContext(diagnostics=list(diagnostics), only=only))), WAIT)
        return list(result or [])

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        return await asyncio.wait_for(self.client.code_action_resolve_async(action), WAIT)


@contextlib.asynccontextmanager
async def session(tmp_path: Path, init_options=None, capabilities=None, root: Path = ROOT):
    client = BaseLanguageClient("pylint-distiller-tests", "1")
    log = tmp_path / "server.log"
    state = Session(client, log)

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    async def _publish(params):
        await state.on_publish(params)

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def _message(params):
        if params.type == types.MessageType.Error:
            state.errors.append(params.message)
        elif params.type == types.MessageType.Warning:
            state.warnings.append(params.message)

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def _log(params):
        pass

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    await client.start_io(sys.executable, "-m", "pylint_distiller", "lsp", "--log-file", str(log), cwd=str(ROOT),
                          env=env)
    try:
        await asyncio.wait_for(client.initialize_async(types.InitializeParams(
            process_id=os.getpid(),
            root_uri=from_fs_path(str(root)),
            capabilities=capabilities or types.ClientCapabilities(),
            initialization_options=init_options)), WAIT)
        client.initialized(types.InitializedParams())
        yield state
        assert state.errors == [], state.errors
        await asyncio.wait_for(client.shutdown_async(None), WAIT)
        client.exit(None)
        await asyncio.wait_for(client.stop(), WAIT)
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()
            await server.wait()


def run(coro):
    asyncio.run(asyncio.wait_for(coro, SCENARIO))


class SharedServer:
    """One server for the tests that need no special client setup (a server start costs seconds).

    Its event loop runs on a thread; each test's scenario runs on it with a
    deadline, on documents of its own.
    """

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lsp-test-loop", daemon=True)
        self.thread.start()
        self.context = session(tmp)
        self.state = self._call(self.context.__aenter__())

    def _call(self, coro, timeout: float = SCENARIO):
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        return future.result(timeout + 10)

    def run(self, scenario) -> None:
        self.state.errors.clear()
        self._call(scenario(self.state))
        assert self.state.errors == [], self.state.errors

    def close(self) -> None:
        try:
            self._call(self.context.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    shared = SharedServer(tmp_path_factory.mktemp("shared-server"))
    try:
        yield shared
    finally:
        shared.close()


def uri_of(path: Path) -> str:
    return from_fs_path(str(path))


def quick_fix_of(actions):
    fixes = [a for a in actions if a.kind == types.CodeActionKind.QuickFix and not a.title.startswith("Disable ")]
    assert len(fixes) == 1, [a.title for a in actions]
    return fixes[0]


NON_ASCII = textwrap.dedent('''\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            é = self.conv(x)  # café ☕
            tag, out = "😀🎉", torch.cat([é, x], dim=1)
            out = {"ü": out}["ü"] + é  # ok
            return F.relu(out)
    ''')


# ------------------------------------------------------------------- tests
def test_basic_module_publishes_exactly_four_diagnostics(tmp_path, server):
    text = BASIC.read_text(encoding="utf-8")
    uri = uri_of(tmp_path / "basic_module.py")
    findings = analyze_source(text, str(BASIC))

    async def scenario(s):
        diags = await s.open(uri, text)
        assert sorted(d.code for d in diags) == sorted(
            ["tensor-operator", "reused-module", "torch-function", "functional-call"])
        lines = text.split("\n")
        for diag, finding in zip(diags, findings):
            rule = RULES[finding.symbol]
            assert diag.code == finding.symbol
            assert diag.severity == types.DiagnosticSeverity.Warning
            assert diag.source == "pylint-distiller"
            assert diag.code_description.href == rule.url
            assert rule.msgid in diag.message and finding.message in diag.message
            assert (diag.range.start.line, diag.range.start.character) == (
                finding.line - 1, utf16_col(lines[finding.line - 1], finding.col))
            assert (diag.range.end.line, diag.range.end.character) == (
                finding.end_line - 1, utf16_col(lines[finding.end_line - 1], finding.end_col))
            assert diag.data["fix"] == {"title": finding.fix.title, "applicability": "safe"}
            assert diag.data["symbol"] == finding.symbol

    server.run(scenario)


def test_quick_fixes_one_by_one_equal_fix(tmp_path, server):
    text = BASIC.read_text(encoding="utf-8")
    uri = uri_of(tmp_path / "basic_module.py")
    expected = fix_source(text, str(BASIC)).text
    assert expected != text

    async def scenario(s):
        current = text
        diags = await s.open(uri, current)
        applied = 0
        while diags:
            diag = diags[0]
            finding = finding_for(current, diag)
            actions = await s.actions(uri, diag.range, [diag], only=[types.CodeActionKind.QuickFix])
            action = quick_fix_of(actions)
            assert action.is_preferred is True  # safe
            assert not action.title.endswith("(unsafe)") and "<" not in action.title
            assert action.diagnostics and action.diagnostics[0].code == diag.code
            edits = action.edit.changes[uri]
            if diag.code in ("tensor-operator", "torch-function", "functional-call"):
                # __init__ (and imports) and forward change in one WorkspaceEdit
                touched = {e.range.start.line for e in edits}
                assert len(touched) >= 2 and diag.range.start.line in touched
            new = apply_edit(current, action.edit, uri)
            assert new == fix_source(current, str(BASIC), unsafe=True, select=same_finding(finding)).text
            current = new
            diags = await s.change(uri, current)
            applied += 1
            assert applied <= 4
        assert applied == 4
        assert current == expected

    server.run(scenario)


def test_fix_all_in_one_step_equals_fix(tmp_path, server):
    text = BASIC.read_text(encoding="utf-8")
    uri = uri_of(tmp_path / "basic_module.py")
    expected = fix_source(text, str(BASIC)).text

    async def scenario(s):
        diags = await s.open(uri, text)
        whole = types.Range(start=types.Position(line=0, character=0),
                            end=types.Position(line=len(text.split("\n")), character=0))
        actions = await s.actions(uri, whole, diags, only=["source.fixAll"])
        assert [a.kind for a in actions] == ["source.fixAll.distiller"]
        assert apply_edit(text, actions[0].edit, uri) == expected
        # quick-fix-only requests do not carry it
        quick = await s.actions(uri, diags[0].range, diags[:1], only=[types.CodeActionKind.QuickFix])
        assert all(a.kind == types.CodeActionKind.QuickFix for a in quick)
        assert await s.change(uri, expected) == []
        assert await s.actions(uri, whole, [], only=["source.fixAll"]) == []

    server.run(scenario)


def test_disable_comment_action(tmp_path, server):
    text = BASIC.read_text(encoding="utf-8")
    uri = uri_of(tmp_path / "basic_module.py")

    async def scenario(s):
        diags = await s.open(uri, text)
        cat = next(d for d in diags if d.code == "torch-function")
        actions = await s.actions(uri, cat.range, [cat], only=[types.CodeActionKind.QuickFix])
        disable = [a for a in actions if a.title == "Disable torch-function for this line"]
        assert len(disable) == 1 and not disable[0].is_preferred
        new = apply_edit(text, disable[0].edit, uri)
        line = new.split("\n")[cat.range.start.line]
        assert line == "        out = torch.cat([identity, out], dim=1)  # pylint: disable=torch-function"
        assert new.replace("  # pylint: disable=torch-function", "") == text
        diags = await s.change(uri, new)
        assert sorted(d.code for d in diags) == ["functional-call", "reused-module", "tensor-operator"]

        # a second message on a line that already has a disable comment extends it
        both = new.replace("out = F.sigmoid(out)", "out = F.sigmoid(out) + torch.cat([out, out], dim=1)")
        both = both.replace("torch.cat([identity, out], dim=1)  # pylint: disable=torch-function",
                            "torch.cat([identity, out], dim=1)")
        both = both.replace("out = F.sigmoid(out) + torch.cat([out, out], dim=1)",
                            "out = F.sigmoid(out) + torch.cat([out, out], dim=1)  # pylint: disable=torch-function")
        diags = await s.change(uri, both)
        sig_line = next(i for i, ln in enumerate(both.split("\n")) if "out = F.sigmoid(out) +" in ln)
        on_line = [d for d in diags if d.range.start.line == sig_line]
        assert sorted(d.code for d in on_line) == ["functional-call", "tensor-operator"]
        sig = next(d for d in on_line if d.code == "functional-call")
        actions = await s.actions(uri, sig.range, [sig], only=[types.CodeActionKind.QuickFix])
        disable = next(a for a in actions if a.title == "Disable functional-call for this line")
        extended = apply_edit(both, disable.edit, uri)
        assert extended.split("\n")[sig_line].endswith(
            "  # pylint: disable=torch-function,functional-call")
        diags = await s.change(uri, extended)
        assert sorted(d.code for d in diags if d.range.start.line == sig_line) == ["tensor-operator"]

        # fix-all leaves what a pragma silences alone
        whole = types.Range(start=types.Position(line=0, character=0),
                            end=types.Position(line=len(extended.split("\n")), character=0))
        fix_all = (await s.actions(uri, whole, diags, only=["source.fixAll"]))[0]
        fixed = apply_edit(extended, fix_all.edit, uri)
        fixed_line = next(ln for ln in fixed.split("\n") if ln.endswith(
            "  # pylint: disable=torch-function,functional-call"))
        assert "F.sigmoid(out)" in fixed_line and "torch.cat([out, out], dim=1)" in fixed_line
        for prepared in ("self.add(out, identity)", "self.relu_2(out)", "self.cat(identity, out)"):
            assert prepared in fixed

    server.run(scenario)


def test_syntax_error_gives_empty_diagnostics_and_the_server_keeps_serving(tmp_path, server):
    text = BASIC.read_text(encoding="utf-8")
    uri = uri_of(tmp_path / "broken.py")
    broken = text.replace("def forward(self, x):", "def forward(self, x)")

    async def scenario(s):
        assert await s.open(uri, broken) == []
        whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=60, character=0))
        assert await s.actions(uri, whole) == []
        assert len(await s.change(uri, text)) == 4  # still serving, and the document is tracked
        assert await s.change(uri, "def f(:\n  \x00") == []
        assert await s.change(uri, "") == []
        assert len(await s.change(uri, text)) == 4
        other = uri_of(tmp_path / "other.py")
        assert len(await s.open(other, text)) == 4

    server.run(scenario)


def test_non_ascii_positions(tmp_path, server):
    uri = uri_of(tmp_path / "non_ascii.py")
    text = NON_ASCII
    lines = text.split("\n")
    findings = analyze_source(text, str(tmp_path / "non_ascii.py"))
    assert [f.symbol for f in findings] == ["torch-function", "tensor-operator", "functional-call"]

    async def scenario(s):
        diags = await s.open(uri, text)
        assert [d.code for d in diags] == [f.symbol for f in findings]
        cat = diags[0]
        # `tag, out = "😀🎉", torch.cat(...)`: two astral characters before the op
        assert lines[cat.range.start.line][from_utf16(lines[cat.range.start.line], cat.range.start.character):] \
            .startswith("torch.cat(")
        assert cat.range.start.character == findings[0].col + 2
        assert cat.range.end.character == findings[0].end_col + 2
        add = diags[1]
        assert add.range.start.character == utf16_col(lines[13], findings[1].col)
        # quick fixes are applied at the right UTF-16 positions
        current = text
        for code in ("tensor-operator", "torch-function"):
            diag = next(d for d in diags if d.code == code)
            finding = finding_for(current, diag)
            action = quick_fix_of(await s.actions(uri, diag.range, [diag], only=["quickfix"]))
            new = apply_edit(current, action.edit, uri)
            assert new == fix_source(current, uri, unsafe=True, select=same_finding(finding)).text
            current = new
            diags = await s.change(uri, current)
        # disable comment after a non-ASCII trailing comment
        relu = next(d for d in diags if d.code == "functional-call")
        action = next(a for a in await s.actions(uri, relu.range, [relu])
                      if a.title.startswith("Disable"))
        disabled = apply_edit(current, action.edit, uri)
        assert disabled.split("\n")[relu.range.start.line].endswith(
            "F.relu(out)  # pylint: disable=functional-call")
        assert await s.change(uri, disabled) == []
        # a range given in UTF-16 units finds the finding behind the emoji
        await s.change(uri, text)
        cat_line = lines[12]
        point = types.Position(line=12, character=utf16_col(cat_line, cat_line.index("cat(")))
        actions = await s.actions(uri, types.Range(start=point, end=point))
        assert any("Concat" in a.title for a in actions)

    server.run(scenario)


def test_client_capabilities_utf8_versioned_edits_and_lazy_fix_all(tmp_path):
    """A client that prefers UTF-8 positions, takes documentChanges and resolves edits gets exactly that."""
    caps = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=["utf-8", "utf-16"]),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)),
        text_document=types.TextDocumentClientCapabilities(code_action=types.CodeActionClientCapabilities(
            resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]))))
    uri = uri_of(tmp_path / "non_ascii.py")
    text = NON_ASCII
    lines = text.split("\n")
    findings = analyze_source(text)
    expected = fix_source(text, uri).text

    async def scenario():
        async with session(tmp_path, capabilities=caps) as s:
            diags = await s.open(uri, text)
            assert [d.code for d in diags] == [f.symbol for f in findings]
            for diag, finding in zip(diags, findings):
                assert diag.range.start.character == utf8_col(lines[finding.line - 1], finding.col)
                assert diag.range.end.character == utf8_col(lines[finding.end_line - 1], finding.end_col)
            diag = diags[0]
            finding = finding_for_utf8(text, diag)
            actions = await s.actions(uri, diag.range, [diag])
            quick = quick_fix_of(actions)
            assert quick.edit.document_changes[0].text_document.version == 1
            assert apply_edit(text, quick.edit, uri, "utf-8") == fix_source(
                text, uri, unsafe=True, select=same_finding(finding)).text
            fix_all = [a for a in actions if a.kind == "source.fixAll.distiller"]
            assert len(fix_all) == 1 and fix_all[0].edit is None  # left to codeAction/resolve
            resolved = await s.resolve(fix_all[0])
            assert resolved.edit.document_changes[0].text_document.version == 1
            assert apply_edit(text, resolved.edit, uri, "utf-8") == expected

    run(scenario())


def finding_for_utf8(text, diag):
    line = text.split("\n")[diag.range.start.line]
    col = len(line.encode("utf-8")[:diag.range.start.character].decode("utf-8"))
    return next(f for f in analyze_source(text) if f.symbol == diag.code and f.col == col)


def test_initialization_options_and_configuration_changes(tmp_path):
    text = BASIC.read_text(encoding="utf-8")
    uri = uri_of(tmp_path / "basic_module.py")
    expected = fix_source(text, str(BASIC), Settings(target="torch-eager")).text
    assert "FloatFunctional" in expected
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=80, character=0))

    async def scenario():
        async with session(tmp_path, init_options={"target": "torch-eager"}) as s:
            diags = await s.open(uri, text)
            assert len(diags) == 5 and any("FloatFunctional" in d.message for d in diags)
            assert any(d.code == "unfused-modules" for d in diags)  # torch-eager only
            fix_all = (await s.actions(uri, whole, diags, only=["source.fixAll.distiller"]))[0]
            assert apply_edit(text, fix_all.edit, uri) == expected
            # an unknown target: a warning, and the project's settings (distiller) apply
            before = s.count(uri)
            s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"pylint-distiller": {"target": "tflite"}}))
            diags = await s.diagnostics(uri, after=before)
            assert len(diags) == 4 and not any("FloatFunctional" in d.message for d in diags)
            assert any("tflite" in w for w in s.warnings)
            before = s.count(uri)
            s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"pylint-distiller": {"target": "torch-eager", "ignore-ops": ["F.sigmoid"]}}))
            diags = await s.diagnostics(uri, after=before)
            assert len(diags) == 4 and any("FloatFunctional" in d.message for d in diags)

    run(scenario())


def test_settings_come_from_the_documents_pyproject(tmp_path):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[tool.pylint.distiller]\ndistiller-target = "torch-eager"\ndistiller-ignore-ops = ["F.sigmoid"]\n',
        encoding="utf-8")
    path = project / "pkg" / "model.py"
    text = BASIC.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    elsewhere = uri_of(tmp_path / "elsewhere.py")  # no pyproject above it

    async def scenario():
        # initializationOptions override the pyproject's target; its ignore-ops still apply
        async with session(tmp_path, init_options={"target": "distiller"}, root=project) as s:
            diags = await s.open(uri_of(path), text)
            assert sorted(d.code for d in diags) == ["reused-module", "tensor-operator", "torch-function"]
            assert not any("FloatFunctional" in d.message for d in diags)
            assert len(await s.open(elsewhere, text)) == 4

    run(scenario())


def test_changes_are_debounced_and_save_and_close_publish(tmp_path, server):
    text = BASIC.read_text(encoding="utf-8")
    uri = uri_of(tmp_path / "basic_module.py")
    fixed = fix_source(text, str(BASIC)).text

    async def scenario(s):
        assert len(await s.open(uri, text)) == 4
        before = s.count(uri)
        s.send_change(uri, fixed)
        s.send_change(uri, text)
        last = s.send_change(uri, fixed)
        assert await s.diagnostics(uri, after=before) == []
        assert [p.version for p in s.published[uri][before:]] == [last]
        before = s.count(uri)
        s.client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        assert await s.diagnostics(uri, after=before) == []
        before = s.count(uri)
        s.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        assert await s.diagnostics(uri, after=before) == []
        assert await s.actions(uri, types.Range(start=types.Position(line=0, character=0),
                                                end=types.Position(line=1, character=0))) == []

    server.run(scenario)


def test_the_server_never_imports_torch():
    code = textwrap.dedent('''
        import sys
        from pathlib import Path
        from lsprotocol import types
        from pylint_distiller.lsp import features
        from pylint_distiller.lsp.server import build_server
        from pylint_distiller.settings import Settings
        build_server()
        whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=10**6, character=0))
        for path in sorted(Path("examples").glob("*.py")):
            for target in ("distiller", "torch-eager"):
                result = features.analyze(path.read_text(encoding="utf-8"), str(path), Settings(target=target))
                features.diagnostics(result)
                features.code_actions(result, "file:///x.py", 1, whole)
        assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")], "torch was imported"
        print("ok")
    ''')
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ------------------------------------------------------ position arithmetic
@pytest.mark.parametrize("encoding,expected", [("utf-16", 3), ("utf-8", 6), ("utf-32", 2)])
def test_lines_convert_columns_both_ways(encoding, expected):
    lines = Lines("a\r\n😀é+b\rx\n", encoding)
    assert len(lines) == 4
    assert lines.line_text(1) == "😀é+b"
    pos = lines.to_lsp(2, 2)
    assert (pos.line, pos.character) == (1, expected)
    assert lines.from_lsp(pos) == (2, 2)
    assert lines.from_lsp(types.Position(line=1, character=1 if encoding == "utf-16" else 0)) in ((2, 1), (2, 0))
    assert lines.from_lsp(types.Position(line=9, character=0)) == (4, 0)
    assert lines.offset_to_lsp(len("a\r\n😀é+b\r")).line == 2


def test_diff_edits_rebuild_the_new_text():
    from pylint_distiller.lsp.text import apply_text_edits

    old = "a\r\nb\nc é😀\nd"
    for new in ("a\r\nB\nc é😀\nd", "x\n" + old, old + "\ne", "", "a\r\nd", old.replace("😀", "😀😀")):
        assert apply_text_edits(old, diff_edits(old, new)) == new


def test_unsafe_and_manual_findings(tmp_path, server):
    """An unsafe fix is offered, labelled and not preferred; a finding without a fix only gets the comment."""
    text = textwrap.dedent('''\
        import torch.nn as nn


        class LM(nn.Module):
            act = nn.SiLU()

            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(8, 16, 1)

            def forward(self, x):
                return self.act(self.rnn(x)[0])
        ''')
    uri = uri_of(tmp_path / "lm.py")

    async def scenario(s):
        diags = await s.open(uri, text)
        assert sorted(d.code for d in diags) == ["shared-module-instance", "unquantizable-module"]
        lstm = next(d for d in diags if d.code == "unquantizable-module")
        assert lstm.data["fix"]["applicability"] == "unsafe"
        actions = await s.actions(uri, lstm.range, [lstm])
        fix = quick_fix_of(actions)
        assert fix.title.endswith(" (unsafe)") and not fix.is_preferred
        finding = finding_for(text, lstm)
        assert apply_edit(text, fix.edit, uri) == fix_source(
            text, uri, unsafe=True, select=same_finding(finding)).text
        assert not [a for a in actions if a.kind == "source.fixAll.distiller"]  # nothing safe to fix
        shared = next(d for d in diags if d.code == "shared-module-instance")
        assert shared.data["fix"] is None
        titles = [a.title for a in await s.actions(uri, shared.range, [shared])]
        assert titles == ["Disable shared-module-instance for this line"]

    server.run(scenario)


# ------------------------------------------------------------------ pragmas
PRAGMA_DOC = textwrap.dedent('''\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Block(nn.Module):
        def forward(self, x):
            a = F.relu(x)  # pylint: disable=functional-call
            # pylint: disable-next=W5705
            b = F.relu(x)
            c = F.relu(x)  # note  # pylint: disable=distiller
            if a is not None:
                # pylint: disable=functional-call
                d = F.relu(x)
                # pylint: enable=functional-call
                e = F.relu(x)
                f = F.relu(x)  # pylint: disable=W
            g = F.relu(x)  # pylint: disable=tensor-operator
            return F.relu(a + b + c + d + e + f + g)
    ''')


def visible(findings, text):
    """What the server publishes for `text` (its pragma filtering included)."""
    from pylint_distiller.lsp import features

    shown = features.analyze(text, "<string>", Settings()).findings
    assert all(f in findings for f in shown)
    return shown


def test_pragmas_silence_like_pylint(tmp_path):
    findings = analyze_source(PRAGMA_DOC)
    lines = PRAGMA_DOC.split("\n")
    shown = {lines[f.line - 1].strip().split(" =")[0] for f in visible(findings, PRAGMA_DOC)
             if f.symbol == "functional-call"}
    assert shown == {"e", "g", "return F.relu(a + b + c + d + e + f + g)"}
    # ... exactly as pylint itself does
    path = tmp_path / "pragmas.py"
    path.write_text(PRAGMA_DOC, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "pylint", "--load-plugins=pylint_distiller", "--disable=all",
                          "--enable=distiller", "--output-format=json", "--score=n", str(path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    by_pylint = sorted((m["line"], m["column"], m["symbol"]) for m in json.loads(out.stdout))
    assert by_pylint == sorted((f.line, f.col, f.symbol) for f in visible(findings, PRAGMA_DOC))
    for pragma in ("# pylint: skip-file", "x = 1  # pylint: disable=all"):
        skipped = pragma + "\n" + PRAGMA_DOC
        assert visible(analyze_source(skipped), skipped) == []


def test_disable_edit_where_a_comment_cannot_go():
    from pylint_distiller.lsp.disable_comment import disable_edit

    text = "x = (1 +\n     2)\ny = \"\"\"a\nb\"\"\" + x\nz = 1 + \\\n    2\n"
    assert disable_edit(text, 1, "s") is not None  # inside brackets a comment is fine
    assert disable_edit(text, 3, "s") is None  # ends inside a string
    assert disable_edit(text, 5, "s") is None  # backslash continuation
    assert disable_edit("x = 1   \n", 1, "s") == (5, 8, "  # pylint: disable=s")
    assert disable_edit("x = 1  # pylint: disable=a, b  # why\n", 1, "s") == (29, 29, ", s")
    assert disable_edit("x = 1  # pylint: disable-next=a\n", 1, "s") == (31, 31, "  # pylint: disable=s")
    assert disable_edit("def f(:\n", 1, "s") is None  # does not tokenize


def test_crlf_and_tab_documents_fix_like_the_engine():
    """Without a client: each quick fix and fix-all on a CRLF file equal the engine's output."""
    from pylint_distiller.lsp import features
    from pylint_distiller.lsp.text import apply_text_edits

    text = BASIC.read_text(encoding="utf-8").replace("\n", "\r\n")
    text = text.replace("# inplanes == planes", "# ünïcode 😀 inplanes == planes")
    result = features.analyze(text, str(BASIC), Settings())
    assert len(result.findings) == 4
    for finding in result.findings:
        edits, new = features.fix_edits(result, finding)
        assert apply_text_edits(text, edits) == new == fix_source(
            text, str(BASIC), unsafe=True, select=same_finding(finding)).text
        assert "\r\n" in new and "\n" not in new.replace("\r\n", "")
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=10**4, character=0))
    fix_all = [a for a in features.code_actions(result, "file:///m.py", 3, whole) if a.kind == features.FIX_ALL_KIND]
    assert apply_text_edits(text, fix_all[0].edit.changes["file:///m.py"]) == fix_source(text, str(BASIC)).text
