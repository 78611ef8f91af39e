"""The language server for .bnn files (`bnnc lsp`, docs/editors.md): diagnostics from `bnnc check` as you type,
hover, completion, go-to-definition and formatting. Like the CLI it is a front end, but it reads only the stages
that never import JAX (syntax, check), so an editor gets answers in milliseconds.

The modules that know the language (diagnostics, hover, complete, definition, symbols, context) are plain
functions over text and know nothing of LSP; `server.py` wires them to pygls, which is an optional extra.
"""

from __future__ import annotations

from . import messages


def serve() -> None:
    """Run the language server over stdin and stdout until the client exits."""
    for package in ("pygls", "lsprotocol"):
        try:
            __import__(package)
        except ImportError:
            raise messages.needs_pygls(package) from None
    from .server import serve as run

    run()
