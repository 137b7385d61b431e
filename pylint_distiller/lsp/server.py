"""The pygls language server: document sync, diagnostics, code actions.

Analysis runs on one worker thread (astroid is not thread-safe, and the event
loop must keep answering while a large file is analysed); results for a
document version that has since changed are dropped. Edits are debounced, open
and save analyse at once. Nothing here imports torch: the analysis only reads
source text.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from pylint_distiller import __version__
from pylint_distiller.analysis.project import shared_project
from pylint_distiller.lsp import features
from pylint_distiller.settings import Settings, from_mapping, from_pyproject

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.3
CONFIG_SECTION = "pylint-distiller"


def is_python(doc) -> bool:
    """Python documents only (the client's document selector should already ensure it)."""
    language = getattr(doc, "language_id", None)
    return not language or language == "python"


class DistillerLanguageServer(LanguageServer):
    def __init__(self, debounce: float = DEBOUNCE_SECONDS) -> None:
        super().__init__(
            "pylint-distiller",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
        )
        self.debounce = debounce
        self.overrides: dict[str, Any] = {}
        self.analyses: dict[str, tuple[int | None, features.Analysis]] = {}
        self.pending: dict[str, asyncio.Task] = {}
        self.inflight: dict[str, tuple[int | None, str, asyncio.Future]] = {}
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="distiller-analysis")
        self.warned: set[str] = set()
        self.linted_text: dict[str, str] = {}  # the text each document's diagnostics were published for

    # -------------------------------------------------------------- settings
    def set_overrides(self, options: Any) -> None:
        if not isinstance(options, dict):
            self.overrides = {}
            return
        for key in (CONFIG_SECTION, "distiller"):
            if isinstance(options.get(key), dict):
                self.overrides = dict(options[key])
                return
        self.overrides = dict(options)

    def settings_for(self, path: str | None) -> Settings:
        start = path or self.workspace.root_path or os.getcwd()
        try:
            base = from_pyproject(start)
        except ValueError as exc:  # e.g. an unknown target in pyproject
            self.warn_once(f"pyproject settings ignored: {exc}")
            base = Settings()
        if not self.overrides:
            return base
        try:
            return from_mapping(self.overrides, base)
        except (ValueError, TypeError) as exc:
            self.warn_once(f"client settings ignored (initializationOptions / configuration): {exc}")
            return base

    def warn_once(self, message: str) -> None:
        if message in self.warned:
            return
        self.warned.add(message)
        log.warning("%s", message)
        try:
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning,
                                                             message=f"pylint-distiller: {message}"))
        except Exception:  # no client attached (unit use)
            pass

    # ------------------------------------------------------------- documents
    @property
    def encoding(self):
        try:
            return self.workspace.position_encoding or types.PositionEncodingKind.Utf16
        except Exception:
            return types.PositionEncodingKind.Utf16

    @property
    def document_changes(self) -> bool:
        caps = self.client_capabilities
        ws = getattr(caps, "workspace", None)
        edit = getattr(ws, "workspace_edit", None) if ws else None
        return bool(edit and edit.document_changes)

    @property
    def lazy_fix_all(self) -> bool:
        caps = self.client_capabilities
        doc = getattr(caps, "text_document", None)
        action = getattr(doc, "code_action", None) if doc else None
        support = getattr(action, "resolve_support", None) if action else None
        return bool(support and "edit" in (support.properties or []))

    def document(self, uri: str):
        doc = self.workspace.text_documents.get(uri)
        return doc

    async def analysis(self, uri: str) -> tuple[int | None, features.Analysis] | None:
        """(version, analysis) of the document as it is now (cached per version).

        pygls updates a document object in place, so the version and text are
        read once, here, and the result belongs to them.
        """
        doc = self.document(uri)
        if doc is None or not is_python(doc):
            return None
        version, text = doc.version, doc.source
        cached = self.analyses.get(uri)
        if cached is not None and cached[0] == version and cached[1].text == text:
            return version, cached[1]
        running = self.inflight.get(uri)
        if running is None or running[0] != version or running[1] != text:
            path = to_fs_path(uri) if uri.startswith("file:") else None
            settings = self.settings_for(path)
            project = shared_project(path, settings) if path and os.path.isfile(path) else None
            task = asyncio.ensure_future(self.run_in_worker(features.analyze, text, path or uri, settings, project))
            running = (version, text, task)
            self.inflight[uri] = running
            task.add_done_callback(lambda _t, uri=uri, mine=running: self._done(uri, mine))
        # shielded: a cancelled (debounced) lint must not cancel an analysis a code action waits for
        result = await asyncio.shield(running[2])
        if self.is_current(uri, version, text):
            self.analyses[uri] = (version, result)
        return version, result

    def _done(self, uri: str, running) -> None:
        if self.inflight.get(uri) is running:
            del self.inflight[uri]

    def is_current(self, uri: str, version: int | None, text: str) -> bool:
        doc = self.document(uri)
        return doc is not None and doc.version == version and doc.source == text

    async def run_in_worker(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn, *args)

    async def lint(self, uri: str) -> None:
        got = await self.analysis(uri)
        if got is None:
            return
        version, result = got
        if not self.is_current(uri, version, result.text):
            return  # superseded: the newer version is (or will be) analysed
        if result.error:
            log.info("%s: %s", uri, result.error)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=features.diagnostics(result, self.encoding)))
        if result.related and self.linted_text.get(uri) != result.text:
            self.relint_related(uri, result.related)
        self.linted_text[uri] = result.text

    def relint_related(self, uri: str, related: list[str]) -> None:
        """Open documents whose findings may depend on `uri` (they import it, or it imports them)."""
        wanted = set(related)
        for other in list(self.workspace.text_documents):
            if other != uri and other.startswith("file:") and os.path.realpath(to_fs_path(other)) in wanted:
                if self.analyses.pop(other, None) is not None:
                    self.schedule(other, 0)

    def schedule(self, uri: str, delay: float) -> None:
        previous = self.pending.pop(uri, None)
        if previous is not None and not previous.done():
            previous.cancel()
        self.pending[uri] = asyncio.ensure_future(self._lint_later(uri, delay))

    async def _lint_later(self, uri: str, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            await self.lint(uri)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("linting %s failed", uri)

    def forget(self, uri: str) -> None:
        task = self.pending.pop(uri, None)
        if task is not None and not task.done():
            task.cancel()
        self.analyses.pop(uri, None)
        self.linted_text.pop(uri, None)
        if uri.startswith("file:"):
            path = to_fs_path(uri)
            if os.path.isfile(path):  # the project sees the file on disk again
                self.worker.submit(lambda: shared_project(path, self.settings_for(path)).set_text(path, None))

    def relint_all(self) -> None:
        self.analyses.clear()
        self.inflight.clear()
        for uri in list(self.workspace.text_documents):
            self.schedule(uri, 0)


def build_server(debounce: float = DEBOUNCE_SECONDS) -> DistillerLanguageServer:
    server = DistillerLanguageServer(debounce)

    @server.feature(types.INITIALIZE)
    def initialize(ls: DistillerLanguageServer, params: types.InitializeParams) -> None:
        ls.set_overrides(params.initialization_options)

    @server.feature(types.INITIALIZED)
    def initialized(ls: DistillerLanguageServer, _params: types.InitializedParams) -> None:
        # astroid's first look at torch's own sources takes seconds: start it before the first open
        ls.worker.submit(features.warm_up)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DistillerLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DistillerLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: DistillerLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.analyses.pop(params.text_document.uri, None)  # pyproject may have changed
        ls.inflight.pop(params.text_document.uri, None)
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DistillerLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=params.text_document.uri, diagnostics=[]))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: DistillerLanguageServer,
                                 params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and (CONFIG_SECTION in settings or "distiller" in settings):
            ls.set_overrides(settings)
            ls.relint_all()

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, features.FIX_ALL_KIND],
            resolve_provider=True,
        ),
    )
    async def code_action(ls: DistillerLanguageServer, params: types.CodeActionParams):
        uri = params.text_document.uri
        got = await ls.analysis(uri)
        if got is None:
            return []
        version, result = got
        only = [str(getattr(k, "value", k)) for k in params.context.only] if params.context.only else None
        return await ls.run_in_worker(
            lambda: features.code_actions(result, uri, version, params.range, only, ls.encoding,
                                          ls.document_changes, ls.lazy_fix_all))

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: DistillerLanguageServer, action: types.CodeAction) -> types.CodeAction:
        data = action.data if isinstance(action.data, dict) else {}
        if action.edit is not None or data.get("kind") != features.FIX_ALL_KIND:
            return action
        uri = data.get("uri")
        got = await ls.analysis(uri) if uri else None
        if got is None:
            return action
        version, result = got
        if data.get("version") is not None and data["version"] != version:
            return action  # stale: the client asks again for the new version
        action.edit = await ls.run_in_worker(
            features.fix_all_edit, result, uri, version, ls.encoding, ls.document_changes)
        return action

    return server
