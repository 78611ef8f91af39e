"""`bnnc lsp`: the language server over stdio, on pygls. This module only wires LSP to the modules that know the
language (diagnostics, hover, complete, definition, the formatter), converting positions at the edge (text.py)
and keeping time bounded.

Time: every check runs on one checker thread, in order, so a slow check delays later ones instead of piling up
beside them. A buffer's check that overruns `CHECK_SECONDS` publishes a diagnostic saying so, then its
result when it finishes if the buffer has not changed since; checks of versions that are no longer current are
skipped. Formatting waits at most `FORMAT_SECONDS` and then gives no edit. Hover, completion and definition read
the text and the latest results and never wait for the checker. The checker thread is a daemon, so a check still
running never keeps the process alive after the client leaves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..errors import BnnError
from ..syntax.format import format_source
from ..version import __version__
from . import messages as msg
from .complete import Item, complete
from .config import Settings
from .definition import definition
from .diagnostics import MAX_CHARS, Analysis, Diagnostic, analyse, to_diagnostic
from .hover import hover
from .symbols import Symbol, from_text, module
from .text import clean, lines, normalize, to_client, units
from .text import from_client as column_from_client

CHECK_SECONDS = 2.0
FORMAT_SECONDS = 2.0
log = logging.getLogger("bnnlang.lsp")

_SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning}
_KINDS = {
    "keyword": lsp.CompletionItemKind.Keyword,
    "layer": lsp.CompletionItemKind.Class,
    "activation": lsp.CompletionItemKind.Function,
    "distribution": lsp.CompletionItemKind.Class,
    "function": lsp.CompletionItemKind.Function,
    "kernel": lsp.CompletionItemKind.Function,
    "backend": lsp.CompletionItemKind.Module,
    "setting": lsp.CompletionItemKind.Property,
    "value": lsp.CompletionItemKind.EnumMember,
    "module": lsp.CompletionItemKind.Module,
    "role": lsp.CompletionItemKind.Property,
    "type": lsp.CompletionItemKind.TypeParameter,
    "data": lsp.CompletionItemKind.Variable,
    "dim": lsp.CompletionItemKind.Constant,
    "param": lsp.CompletionItemKind.Variable,
    "network": lsp.CompletionItemKind.Function,
    "gp": lsp.CompletionItemKind.Variable,
    "prior": lsp.CompletionItemKind.Function,
}


class CheckerThread:
    """One daemon thread that runs every check, in order (see the module's docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="bnnc-check", daemon=True).start()

    def submit(self, fn: Callable, *args: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((future, fn, args))
        return future

    def _run(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # noqa: BLE001 - handed to whoever waits
                future.set_exception(err)


@dataclass
class Document:
    """An open buffer: its text as the modules read it (normalized), and its latest results."""

    uri: str
    path: str  # in messages: the file's path, or the URI of an unsaved buffer
    file: Path | None
    text: str = ""
    version: int = 0  # counts changes; a check is current while the version it read is
    client_version: int | None = None  # the editor's version of the text, sent back with its diagnostics
    analysis: Analysis | None = None  # the latest finished check
    good: Analysis | None = None  # the latest check of a text that parsed
    _scan: tuple[int, dict[str, Symbol]] | None = field(default=None, repr=False)

    @property
    def model_dir(self) -> Path | None:
        return self.file.parent if self.file is not None else None

    def symbols(self) -> dict[str, Symbol]:
        """The names in scope now: the latest check's, if it read this text; else a scan of the text, over the
        names of the last text that parsed."""
        a = self.analysis
        if a is not None and a.text == self.text:
            current = a.symbols
        else:
            if self._scan is None or self._scan[0] != self.version:
                self._scan = (self.version, from_text(self.text, self.model_dir))
            current = self._scan[1]
        if a is not None and a.text == self.text and a.program is not None:
            return current
        return {**self.good.symbols, **current} if self.good is not None else current


class BnnServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("bnnc", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.docs: dict[str, Document] = {}
        self.settings = Settings()
        self.checker = CheckerThread()

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors go to the log (stderr), never to a pop-up in the editor."""
        log.error("bnnc lsp: %s: %s", type(error).__name__, error)

    @property
    def encoding(self) -> str:
        enc = self.workspace.position_encoding
        return str(getattr(enc, "value", enc) or "utf-16")

    # -- documents and their checks ---------------------------------------------------------------------------

    def open(self, uri: str, raw: str, client_version: int | None) -> Document:
        doc = self.docs.get(uri)
        if doc is None:
            fs = to_fs_path(uri) if uri.startswith("file:") else None
            file = Path(fs).absolute() if fs else None
            doc = self.docs[uri] = Document(uri, str(file) if file else uri, file)
        doc.text = normalize(clean(raw))
        doc.version += 1
        doc.client_version = client_version
        return doc

    async def check(self, doc: Document) -> None:
        version, raw, settings = doc.version, doc.text, self.settings
        future = self.checker.submit(self._analyse, doc, version, raw, settings)
        waiting = asyncio.wrap_future(future)
        try:
            result = await asyncio.wait_for(asyncio.shield(waiting), CHECK_SECONDS)
        except asyncio.TimeoutError:
            if doc.version == version:
                self.publish(doc, [to_diagnostic(msg.timed_out(doc.path, CHECK_SECONDS), [], "")], doc.text)
            waiting.add_done_callback(lambda f: self._finished(doc, version, f))
            return
        self._record(doc, version, result)

    @staticmethod
    def _analyse(doc: Document, version: int, text: str, settings: Settings) -> Analysis | None:
        if doc.version != version:  # a newer version is waiting behind this one
            return None
        return analyse(text, doc.path, doc.file, settings)

    def _finished(self, doc: Document, version: int, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is None:
            self._record(doc, version, future.result())

    def _record(self, doc: Document, version: int, result: Analysis | None) -> None:
        if result is None or self.docs.get(doc.uri) is not doc:
            return
        if result.program is not None:
            doc.good = result
        if doc.version == version:
            doc.analysis = result
            self.publish(doc, result.diagnostics, result.text)

    def publish(self, doc: Document, found: list[Diagnostic], text: str) -> None:
        text_lines = lines(text)
        out = [
            lsp.Diagnostic(
                range=self.range(text_lines, d.line, d.column, d.end_line, d.end_column),
                message=d.message,
                severity=_SEVERITY[d.severity],
                source="bnnc",
            )
            for d in found
        ]
        params = lsp.PublishDiagnosticsParams(uri=doc.uri, diagnostics=out, version=doc.client_version)
        self.text_document_publish_diagnostics(params)

    def range(self, text_lines: list[str], line: int, col: int, end_line: int, end_col: int) -> lsp.Range:
        def pos(ln: int, c: int) -> lsp.Position:
            text = text_lines[ln] if ln < len(text_lines) else ""
            return lsp.Position(line=ln, character=to_client(text, c, self.encoding))

        return lsp.Range(start=pos(line, col), end=pos(end_line, end_col))

    def position(self, doc: Document, p: lsp.Position) -> tuple[int, int]:
        """A client's position as a 0-based line and code-point column of `doc.text`."""
        text_lines = lines(doc.text)
        line = min(p.line, len(text_lines) - 1)
        return line, column_from_client(text_lines[line], p.character, self.encoding)

    def readable(self, uri: str) -> Document | None:
        """The document a request is about, if it is open and small enough to answer for."""
        doc = self.docs.get(uri)
        return doc if doc is not None and len(doc.text) <= MAX_CHARS else None

    def cursor(self, params: lsp.TextDocumentPositionParams) -> tuple[Document, int, int] | None:
        """What a hover, completion or definition request points at: its document, line and column (or None)."""
        doc = self.readable(params.text_document.uri)
        if doc is None:
            return None
        return (doc, *self.position(doc, params.position))

    def recheck_all(self) -> None:
        for doc in list(self.docs.values()):
            doc.version += 1
            asyncio.ensure_future(self.check(doc))


def _format(text: str, path: str) -> str | None:
    """The formatted text, or None when it does not parse (an editor's format command then does nothing)."""
    try:
        return format_source(text, path)
    except BnnError:
        return None
    except Exception as err:  # a bug in the formatter: no edit, and a line in the log
        log.error("bnnc lsp: formatting failed: %s: %s", type(err).__name__, err)
        return None


def _warm_up() -> None:
    """Build the parser and read the stdlib on the checker thread before the first buffer arrives."""
    module(("std", "priors"), None)


def _guarded(default: Any) -> Callable:
    """A request handler that logs its own failure and answers `default`, never an error."""

    def wrap(fn: Callable) -> Callable:
        def run(*args: Any) -> Any:
            try:
                return fn(*args)
            except Exception as err:
                log.error("bnnc lsp: %s failed: %s: %s", fn.__name__, type(err).__name__, err)
                return default

        run.__name__ = fn.__name__
        return run

    return wrap


def build() -> BnnServer:
    """The server with every handler registered."""
    server = BnnServer()
    _documents(server)
    _requests(server)
    return server


def _documents(server: BnnServer) -> None:
    @server.feature(lsp.INITIALIZE)
    def initialize(params: lsp.InitializeParams) -> None:
        root_uri = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
        root = to_fs_path(root_uri) if root_uri else params.root_path
        server.settings = Settings(root=Path(root).absolute() if root else None).updated(params.initialization_options)
        server.checker.submit(_warm_up)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def configuration(params: lsp.DidChangeConfigurationParams) -> None:
        server.settings = server.settings.updated(params.settings)
        server.recheck_all()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(params: lsp.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        await server.check(server.open(item.uri, item.text, item.version))

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(params: lsp.DidChangeTextDocumentParams) -> None:
        uri, version = params.text_document.uri, params.text_document.version
        await server.check(server.open(uri, server.workspace.get_text_document(uri).source, version))

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: lsp.DidSaveTextDocumentParams) -> None:
        server.recheck_all()  # a saved module or data file can change what other buffers import or read

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: lsp.DidCloseTextDocumentParams) -> None:
        doc = server.docs.pop(params.text_document.uri, None)
        if doc is not None:
            server.publish(doc, [], "")


def _requests(server: BnnServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    @_guarded(None)
    def on_hover(params: lsp.HoverParams) -> lsp.Hover | None:
        at = server.cursor(params)
        if at is None:
            return None
        doc, line, col = at
        found = hover(doc.text, line, col, doc.symbols())
        if found is None:
            return None
        rng = server.range(lines(doc.text), found.line, found.start, found.line, found.end)
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=found.text), range=rng)

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["~", "(", ",", "."]))
    @_guarded(None)
    def on_completion(params: lsp.CompletionParams) -> lsp.CompletionList | None:
        at = server.cursor(params)
        if at is None:
            return None
        doc, line, col = at
        items = complete(doc.text, line, col, doc.symbols(), doc.model_dir)
        text_lines = lines(doc.text)
        return lsp.CompletionList(
            is_incomplete=False, items=[_item(server, text_lines, line, col, i, n) for n, i in enumerate(items)]
        )

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    @_guarded(None)
    def on_definition(params: lsp.DefinitionParams) -> lsp.Location | None:
        at = server.cursor(params)
        if at is None:
            return None
        doc, line, col = at
        target = definition(doc.text, line, col, doc.symbols(), doc.model_dir)
        if target is None:
            return None
        uri = doc.uri if target.path is None else from_fs_path(target.path)
        text_lines = lines(doc.text) if target.path is None else _file_lines(target.path)
        rng = server.range(text_lines, target.line, target.column, target.line, target.end_column)
        return lsp.Location(uri=uri, range=rng)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    async def on_formatting(params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        doc = server.readable(params.text_document.uri)
        if doc is None:
            return None
        future = server.checker.submit(_format, doc.text, doc.path)
        try:
            out = await asyncio.wait_for(asyncio.wrap_future(future), FORMAT_SECONDS)
        except Exception:  # timed out, or the checker thread failed: no edit
            return None
        if out is None:
            return None
        if out == doc.text:
            return []
        text_lines = lines(doc.text)
        end = lsp.Position(line=len(text_lines) - 1, character=units(text_lines[-1], server.encoding))
        return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end), new_text=out)]


def _item(server: BnnServer, text_lines: list[str], line: int, col: int, item: Item, n: int) -> lsp.CompletionItem:
    edit = None
    if item.start is not None:
        rng = server.range(text_lines, line, item.start, line, col)
        edit = lsp.TextEdit(range=rng, new_text=item.insert or item.label)
    return lsp.CompletionItem(
        label=item.label,
        kind=_KINDS.get(item.kind, lsp.CompletionItemKind.Text),
        detail=item.detail or None,
        insert_text=None if edit is not None else item.insert,
        text_edit=edit,
        sort_text=f"{n:04d}",
    )


def _file_lines(path: str) -> list[str]:
    try:
        return lines(normalize(Path(path).read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return []


def serve() -> None:
    """Answer one client over stdin and stdout until it exits."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    build().start_io()
