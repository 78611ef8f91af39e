"""The shape of the package (docs/architecture.md): a one-way pipeline, no import cycles, small modules.

Imports are read from the source with `ast` (every import, inside functions and TYPE_CHECKING blocks too), so a
new module is covered the day it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bnnlang"

# The pipeline, in order: a module may import its own stage and earlier ones, never a later one.
STAGES = [
    ("messages", ("bnnlang.errors", "bnnlang.version")),
    ("syntax", ("bnnlang.syntax",)),
    ("check", ("bnnlang.check",)),
    ("codegen", ("bnnlang.codegen",)),
    ("infer", ("bnnlang.infer",)),
    ("posterior", ("bnnlang.posterior",)),
    ("diagnose", ("bnnlang.diagnose",)),
    ("priors", ("bnnlang.priors",)),
    ("api", ("bnnlang.api",)),
    ("front", ("bnnlang.cli", "bnnlang.sbc", "bnnlang.lsp", "bnnlang")),
]
# Front ends that must answer without JAX read no stage past `check` (the language server answers an editor in
# milliseconds; codegen, infer and everything after them pull JAX in).
JAX_FREE = {"bnnlang.lsp": "check"}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 120


def modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        rel = f.relative_to(ROOT).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = f
    return out


MODULES = modules()


def stage(module: str) -> int:
    """The stage of a module: the longest matching prefix decides (`bnnlang` itself is the front)."""
    best = (-1, len(STAGES) - 1)
    for i, (_, prefixes) in enumerate(STAGES):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best[0]:
                best = (len(p), i)
    return best[1]


def imports(module: str) -> set[str]:
    """The bnnlang modules `module` imports, anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n in MODULES and n != module}
    return out


EDGES = {m: imports(m) for m in MODULES}


def placed_by(module: str) -> str:
    """The prefix in STAGES that places `module` (the longest that matches)."""
    found = [p for _, ps in STAGES for p in ps if module == p or module.startswith(p + ".")]
    return max(found, key=len)


def test_every_module_has_a_stage() -> None:
    """Only `bnnlang` itself is placed by the catch-all prefix `bnnlang`: a new top-level module or package
    must be given its stage (the front's packages, such as `bnnlang.lsp`, place their modules)."""
    unplaced = [m for m in MODULES if placed_by(m) == "bnnlang" and m != "bnnlang"]
    assert not unplaced, f"add these to a stage in STAGES and docs/architecture.md: {unplaced}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_stage_imports_a_later_stage(module: str) -> None:
    later = [m for m in EDGES[module] if stage(m) > stage(module) and not module.startswith(m + ".")]
    names = [f"{m} ({STAGES[stage(m)][0]})" for m in later]
    assert not later, f"{module} ({STAGES[stage(module)][0]}) imports a later stage: {names}"


@pytest.mark.parametrize("front", sorted(JAX_FREE))
def test_jax_free_front_ends_read_no_jax_stage(front: str) -> None:
    last = [name for name, _ in STAGES].index(JAX_FREE[front])
    mine = [m for m in MODULES if m == front or m.startswith(front + ".")]
    assert mine, front
    bad = {m: sorted(t for t in EDGES[m] if stage(t) > last and not t.startswith(front)) for m in mine}
    assert not any(bad.values()), {m: ts for m, ts in bad.items() if ts}


def test_no_import_cycle() -> None:
    """Tarjan's strongly connected components over every import (a child's import of its own package's face,
    `from . import x`, is plumbing, not a dependency on the package)."""
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in EDGES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_modules_and_functions_are_small() -> None:
    long_modules = {}
    long_functions = {}
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long_functions[f"{name}.{node.name}"] = size
    assert not long_modules, long_modules
    assert not long_functions, long_functions


def test_the_architecture_doc_names_every_stage() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for _, prefixes in STAGES[:-1]:
        for p in prefixes:
            assert f"`{p.replace('bnnlang.', '').replace('.', '/')}" in doc, p


def test_the_synthetic_import_reader_sees_relative_and_lazy_imports() -> None:
    """The reader itself: a function-level relative import of a later stage is found."""
    assert "bnnlang.api" in EDGES["bnnlang"]  # `from .api import load` inside a function of bnnlang/__init__.py
    assert "bnnlang.check.model" in EDGES["bnnlang.codegen.emit"]
    assert stage("bnnlang.infer.backends.nuts") == 4 and stage("bnnlang") == len(STAGES) - 1
