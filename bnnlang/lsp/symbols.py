"""The names a model defines, where, and how they read: from the syntax tree's spans when the buffer parses,
else from a scan of its text, so that completion, hover and go-to-definition keep working in a half-typed file.

Imported modules (`import std.priors (neal)`) are parsed once per version of their file (cached by path, size
and modification time). The parser keeps state between calls, so `module` (which parses) runs only on the
server's checker thread; `cached_module` (which only looks) may run anywhere.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

from ..check.imports import module_file
from ..errors import BnnError
from ..syntax import tree as t
from ..syntax.format import format_expr, format_type
from ..syntax.parser import parse
from .text import lines, strip_comments


@dataclass(frozen=True)
class Symbol:
    """A defined name: `path` None means the document itself; lines and columns 0-based, in code points."""

    name: str
    kind: str  # data | dim | param | network | gp | prior
    line: int
    column: int
    end_column: int
    detail: str  # how it is declared, one line of bnn
    path: str | None = None
    doc: str = ""  # a prior definition's comment block


@dataclass(frozen=True)
class Module:
    name: str  # std.priors
    path: Path
    priors: dict[str, Symbol]


_MODULES: dict[tuple[str, int, int], Module] = {}


def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size)


def cached_module(module: tuple[str, ...], model_dir: Path | None) -> Module | None:
    """A module already read by `module`, if its file has not changed since (any thread)."""
    path = module_file(module, model_dir) if module and module[0] else None
    key = _key(path) if path is not None else None
    return _MODULES.get(key) if key is not None else None


def module(module: tuple[str, ...], model_dir: Path | None) -> Module | None:
    """A module's prior definitions, parsed (checker thread only); None if it is missing or does not parse."""
    found = cached_module(module, model_dir)
    if found is not None:
        return found
    path = module_file(module, model_dir) if module and module[0] else None
    key = _key(path) if path is not None else None
    if key is None or not path.is_file():
        return None
    try:
        source = path.read_text(encoding="utf-8")
        program = parse(source, str(path))
    except (OSError, UnicodeDecodeError, BnnError, RecursionError):
        return None
    text_lines = lines(program.source)
    priors = {d.name: _prior_symbol(d, text_lines, str(path)) for d in program.items if isinstance(d, t.PriorDef)}
    found = Module(".".join(module), path, priors)
    _MODULES[key] = found
    return found


# -- from the syntax tree -------------------------------------------------------------------------------------


def _shape(dims: tuple[t.Dim, ...]) -> str:
    return f"[{', '.join(str(d) for d in dims)}]" if dims else ""


def prior_header(d: t.PriorDef) -> str:
    params = ", ".join(p.name + (f" = {p.default.text}" if p.default is not None else "") for p in d.params)
    return f"prior {d.name}({params})"


def _comment_above(text_lines: list[str], line: int) -> str:
    """The comment lines right above 0-based `line`, without their `#`."""
    out: list[str] = []
    i = line - 1
    while i >= 0 and text_lines[i].lstrip().startswith("#"):
        out.append(text_lines[i].lstrip()[1:].strip())
        i -= 1
    return "\n".join(reversed(out))


def _name_span(text_lines: list[str], span: t.Span, name: str) -> tuple[int, int, int]:
    """The 0-based line and columns of `name` in the statement that starts at `span`."""
    line = max(span.line - 1, 0)
    text = text_lines[line] if line < len(text_lines) else ""
    m = re.compile(rf"\b{re.escape(name)}\b").search(text, max(span.column - 1, 0))
    start = m.start() if m else max(span.column - 1, 0)
    return line, start, start + len(name)


def _sym(name: str, kind: str, span: t.Span, text_lines: list[str], detail: str, **kw) -> Symbol:
    line, col, end = _name_span(text_lines, span, name)
    return Symbol(name, kind, line, col, end, detail, **kw)


def _prior_symbol(d: t.PriorDef, text_lines: list[str], path: str | None) -> Symbol:
    locals_ = [f"  param {p.name}{_shape(p.shape)} ~ {format_expr(p.dist)}" for p in d.locals]
    detail = "\n".join([prior_header(d) + " {", *locals_, f"  value ~ {format_expr(d.value)}", "}"])
    line, col, end = _name_span(text_lines, d.span, d.name)
    return Symbol(d.name, "prior", line, col, end, detail, path, _comment_above(text_lines, line))


def _data_symbols(block: t.DataBlock, text_lines: list[str]) -> list[Symbol]:
    out: list[Symbol] = []
    for item in block.items:
        if isinstance(item, t.DimConst):
            out.append(_sym(item.name, "dim", item.span, text_lines, f"{item.name} = {item.value.text}"))
            continue
        detail = f"{item.name}: {format_type(item.type)}"
        if item.columns:
            detail += f" from ({', '.join(c.id for c in item.columns)})"
        if item.standardized:
            detail += " standardized"
        out.append(_sym(item.name, "data", item.span, text_lines, detail))
        for axis, d in enumerate(item.type.shape):
            if d.name is not None and d.offset == 0:
                note = f"dimension {d.name}: axis {axis} of {item.name}, bound from the data"
                out.append(_sym(d.name, "dim", d.span, text_lines, note))
    return out


def _item_symbols(item: t.Item, text_lines: list[str]) -> list[Symbol]:
    if isinstance(item, t.DataBlock):
        return _data_symbols(item, text_lines)
    if isinstance(item, t.Param):
        detail = f"param {item.name}{_shape(item.shape)} ~ {format_expr(item.dist)}"
        return [_sym(item.name, "param", item.span, text_lines, detail)]
    if isinstance(item, t.Network):
        detail = f"network {item.name}({', '.join(item.inputs)}) -> {format_type(item.output)}"
        return [_sym(item.name, "network", item.span, text_lines, detail)]
    if isinstance(item, t.GPDecl):
        detail = f"gp {item.name}{_shape(item.shape)} ~ {format_expr(item.gp)} on {format_expr(item.input)}"
        return [_sym(item.name, "gp", item.span, text_lines, detail)]
    if isinstance(item, t.PriorDef):
        return [_prior_symbol(item, text_lines, None)]
    return []


def from_program(program: t.Program, model_dir: Path | None) -> dict[str, Symbol]:
    """Every name the parsed model defines or imports (checker thread: imported modules are parsed)."""
    text_lines = lines(program.source)
    out: dict[str, Symbol] = {}
    for item in program.items:
        if isinstance(item, t.Import):
            found = module(item.module, model_dir)
            for n in item.names:
                out.setdefault(n.id, _imported(n.id, item.module, model_dir, found))
        for s in _item_symbols(item, text_lines):
            out.setdefault(s.name, s)
    return out


def _imported(name: str, mod: tuple[str, ...], model_dir: Path | None, found: Module | None) -> Symbol:
    if found is not None and name in found.priors:
        return found.priors[name]
    path = module_file(mod, model_dir) if mod and mod[0] else None
    where = str(path) if path is not None else None
    return Symbol(name, "prior", 0, 0, 0, f"prior {name} (from {'.'.join(mod)})", where)


# -- from the text alone --------------------------------------------------------------------------------------

_DEFINITIONS = {
    "param": re.compile(r"(?<![\w.])param\s+([A-Za-z]\w*)"),
    "network": re.compile(r"(?<![\w.])network\s+([A-Za-z]\w*)"),
    "gp": re.compile(r"(?<![\w.])gp\s+([A-Za-z]\w*)"),
    "prior": re.compile(r"(?<![\w.])prior\s+([A-Za-z]\w*)\s*\("),
    "data": re.compile(r"(?<![\w.])([A-Za-z]\w*)\s*:\s*(?:real|int)\b"),
}
_IMPORT = re.compile(r"(?<![\w.])import\s+([A-Za-z][\w.]*)\s*\(([^)]*)\)?")


def from_text(text: str, model_dir: Path | None) -> dict[str, Symbol]:
    """The names a (normalized, maybe unparsable) text appears to define: a scan, never a parse."""
    plain = strip_comments(text)
    text_lines = lines(text)
    starts = [0] + [m.end() for m in re.finditer("\n", plain)]
    out: dict[str, Symbol] = {}
    for m in _IMPORT.finditer(plain):
        mod = tuple(m.group(1).split("."))
        found = cached_module(mod, model_dir)
        for name in re.findall(r"[A-Za-z]\w*", m.group(2)):
            out.setdefault(name, _imported(name, mod, model_dir, found))
    for kind, pattern in _DEFINITIONS.items():
        for m in pattern.finditer(plain):
            line = bisect.bisect_right(starts, m.start(1)) - 1
            col = m.start(1) - starts[line]
            detail = text_lines[line].strip() if line < len(text_lines) else m.group()
            out.setdefault(m.group(1), Symbol(m.group(1), kind, line, col, col + len(m.group(1)), detail))
    return out
