"""Turn generated source into a module, so what runs is exactly what `bnnc compile` prints."""

from __future__ import annotations

import linecache
import types


def load_program(source: str, name: str = "bnn_model") -> types.ModuleType:
    filename = f"<bnnc:{name}>"
    # Register the text so tracebacks inside the generated program show its lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    return module
