"""A minimal LSP client over stdio for tests/test_lsp.py and benchmarks/lsp_latency.py: it starts `bnnc lsp` as
an editor would, frames JSON-RPC messages with Content-Length headers, and waits for answers with a time limit.

Written here rather than taken from pygls so that the tests drive the server through its process boundary with
nothing of the server's own stack on the client side. A reader thread puts every message from the server in a
queue; requests wait for their id, notifications are kept in order until a test asks for them.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "bnnlang.cli", "lsp"]


class NoAnswer(AssertionError):
    """The server did not answer within the time limit (or it exited)."""


class Client:
    def __init__(self, stderr: Path | None = None, command: list[str] | None = None) -> None:
        self._err = open(stderr, "wb") if stderr is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            command or COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._inbox: queue.Queue = queue.Queue()
        self.notifications: collections.deque = collections.deque()
        self._answers: dict[int, dict] = {}
        self._next = 0
        threading.Thread(target=self._read, daemon=True).start()

    # -- the wire -------------------------------------------------------------------------------------------------

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                header = out.readline()
                if not header:
                    self._inbox.put(None)
                    return
                if header in (b"\r\n", b"\n"):
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            self._inbox.put(json.loads(out.read(length).decode("utf-8")))

    def send(self, message: dict) -> None:
        self.send_raw(json.dumps(message).encode("utf-8"))

    def send_raw(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _pump(self, deadline: float) -> None:
        """Take one message from the server (or raise NoAnswer at the deadline)."""
        try:
            message = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.001))
        except queue.Empty:
            raise NoAnswer("no answer in time") from None
        if message is None:
            self._inbox.put(None)
            raise NoAnswer(f"the server exited (code {self.proc.poll()})")
        if "id" in message and "method" in message:  # a request from the server: answer it with nothing
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif "id" in message:
            self._answers[message["id"]] = message
        else:
            self.notifications.append(message)

    # -- requests and notifications -----------------------------------------------------------------------------

    def request(self, method: str, params: Any, timeout: float = 5.0) -> Any:
        self._next += 1
        ident = self._next
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while ident not in self._answers:
            self._pump(deadline)
        answer = self._answers.pop(ident)
        if "error" in answer:
            raise AssertionError(f"{method} answered an error: {answer['error']}")
        return answer.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 5.0) -> list[dict]:
        """The first diagnostics published for `uri` (for `version`, if given) not yet taken; earlier ones for
        that uri are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            for i, n in enumerate(self.notifications):
                p = n.get("params", {})
                if n.get("method") == "textDocument/publishDiagnostics" and p.get("uri") == uri:
                    if version is None or p.get("version") == version:
                        del self.notifications[i]
                        return p["diagnostics"]
            self._pump(deadline)

    # -- what an editor does --------------------------------------------------------------------------------------

    def initialize(self, options: Any = None, root: Path = ROOT) -> dict:
        params = {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}}
        if options is not None:
            params["initializationOptions"] = options
        result = self.request("initialize", params, timeout=30.0)
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        item = {"uri": uri, "languageId": "bnn", "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})

    def change(self, uri: str, text: str, version: int) -> None:
        params = {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}
        self.notify("textDocument/didChange", params)

    def at(self, method: str, uri: str, line: int, character: int, timeout: float = 5.0) -> Any:
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
        return self.request(method, params, timeout)

    def close(self) -> int:
        """Shut the server down as an editor does; its exit code (killed after 5 s)."""
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None, timeout=5.0)
                self.notify("exit", None)
            return self.proc.wait(timeout=5.0)
        except (NoAnswer, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            return self.proc.wait()
        finally:
            if self._err is not subprocess.DEVNULL:
                self._err.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
