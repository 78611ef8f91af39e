"""Confinement (issue 6): what a .bnn file can reach, and what of it can ever run.

1. Imports resolve only to the stdlib and the model's own folder.
2. Compiling a model executes nothing of its text: only grammar-validated names and numbers reach the
   generated program, and names that collide with the program's own (`jnp`, `dist`, `model`, `len`,
   Python keywords) neither break nor silently change the model.
3. Every user-controlled string that reaches report.html is escaped.
4. Saved runs and data are never pickles.

One short NUTS run (module fixture) with hostile names and paths serves parts 2-4; the rest compiles only.
"""

from __future__ import annotations

import ast
import builtins
import functools
import html
import json
import keyword
import math
import pathlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density

from bnnlang.api import Model, open_run
from bnnlang.check.data_block import NUMPYRO_ARGUMENTS
from bnnlang.check.imports import resolve_imports, stdlib_dir
from bnnlang.cli import main
from bnnlang.codegen.load import load_program
from bnnlang.codegen.names import GENERATED_NAMES
from bnnlang.errors import BnnError
from bnnlang.syntax.parser import RESERVED, grammar_path, parse

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bnnlang"
HEADER = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.*)$")
# The grammar's own NAME terminal, so the static checks follow the grammar if it changes.
NAME = re.compile(re.search(r"^NAME: /(.+?)/", grammar_path().read_text(encoding="utf-8"), re.M).group(1))
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@pytest.fixture(autouse=True)
def _crash_logs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An exit-3 crash writes a log under XDG_CACHE_HOME; keep it out of the user's home.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], line: int | None = None) -> tuple[str, str]:
    """Run the CLI and require a user error: exit 2, `file:line:col: error:`, a caret, a hint, nothing on stdout.

    Returns (the file the header names, the message)."""
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, f"exit {rc}, expected 2:\n{err}"
    assert out == ""
    lines = err.rstrip("\n").splitlines()
    m = HEADER.match(lines[0])
    assert m, f"no located header:\n{err}"
    if line is not None:
        assert int(m["line"]) == line, err
    assert any(re.fullmatch(r"\s*\|\s*\^+", ln) for ln in lines), f"no caret:\n{err}"
    assert lines[-1].startswith("hint: "), f"no hint:\n{err}"
    assert "Traceback" not in err
    return m["path"], m["message"]


# ================================================================ 1. imports

MODULE = "prior wide(s = 3.0) {\n  value ~ Normal(0, s)\n}\n"
BODY = """
data {{ x: real[N, 1]  y: real[N] }}
network mlp(x) -> real[N] {{
  default weight ~ {prior}()
  dense(1)
}}
observe y ~ Normal(mlp(x), 1)
"""


def model_with(import_line: str, prior: str = "wide") -> str:
    return import_line + "\n" + BODY.format(prior=prior)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(the model's folder, a sibling folder outside it holding a valid module `wide.bnn`)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "wide.bnn").write_text(MODULE)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    return model_dir, outside


@pytest.mark.parametrize(
    "module",
    [
        "{outside}/wide",  # an absolute path
        "../outside/wide",
        "..outside.wide",
        ".wide",
        "outside..wide",
        "std/../../outside/wide",
        "..\\outside\\wide",
        "~/wide",
        '"../outside/wide"',  # the language has no strings
        "'wide'",
        "_hidden",
        "std.priors..",
        "wide;",
    ],
)
def test_a_module_name_is_never_a_path(folders: tuple[Path, Path], module: str, capsys) -> None:
    """Module paths are NAMEs joined by dots: anything path-like is a located syntax error, even when the
    file it names exists and would be a valid module."""
    model_dir, outside = folders
    model = model_dir / "m.bnn"
    model.write_text(model_with(f"import {module.format(outside=outside)} (wide)"))
    refused(capsys, ["check", str(model)], line=1)


def _link(link: Path, target: Path) -> None:
    try:
        link.symlink_to(target)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")


@pytest.mark.parametrize("kind", ["file", "folder", "absolute", "chain", "std"])
def test_a_symlink_out_of_the_model_folder_is_refused(folders: tuple[Path, Path], kind: str, capsys) -> None:
    """A module reached through a link that leaves the model's folder is refused, at the import."""
    model_dir, outside = folders
    module = {"folder": "lib.wide", "chain": "alias", "std": "lib.priors"}.get(kind, "wide")
    prior = "neal" if kind == "std" else "wide"
    if kind == "file":
        _link(model_dir / "wide.bnn", Path("../outside/wide.bnn"))
    elif kind == "absolute":
        _link(model_dir / "wide.bnn", outside / "wide.bnn")
    elif kind == "folder":
        _link(model_dir / "lib", Path("../outside"))
    elif kind == "chain":  # a link to a link inside the folder, which leads out
        _link(model_dir / "inner.bnn", Path("../outside/wide.bnn"))
        _link(model_dir / "alias.bnn", Path("inner.bnn"))
    else:  # a link to the stdlib's folder is still outside the model's folder
        _link(model_dir / "lib", stdlib_dir())
    model = model_dir / "m.bnn"
    model.write_text(model_with(f"import {module} ({prior})", prior))
    path, message = refused(capsys, ["check", str(model)], line=1)
    assert Path(path) == model
    assert "outside the model's folder" in message


@pytest.mark.parametrize("kind", ["subfolder", "link_inside", "linked_model_folder"])
def test_subfolders_and_links_inside_the_folder_resolve(tmp_path: Path, kind: str, capsys) -> None:
    """The positive side of the rule: `a.b` is `a/b.bnn` below the model, a link that stays inside is
    followed, and a model folder reached through a link keeps its own modules."""
    real = tmp_path / "project"
    (real / "lib").mkdir(parents=True)
    (real / "lib" / "extra.bnn").write_text(MODULE)
    (real / "wide.bnn").write_text(MODULE)
    module, folder = "lib.extra", real
    if kind == "link_inside":
        _link(real / "alias.bnn", Path("lib/extra.bnn"))
        module = "alias"
    elif kind == "linked_model_folder":
        _link(tmp_path / "via", real)
        module, folder = "wide", tmp_path / "via"
    model = folder / "m.bnn"
    model.write_text(model_with(f"import {module} (wide)"))
    assert main(["check", str(model)]) == 0, capsys.readouterr().err
    program = parse(model.read_text(), str(model))
    source = resolve_imports(program, model.resolve().parent)["wide"]
    assert (source.module, source.definition.name, source.program.source) == (module, "wide", MODULE)
    assert Path(source.program.path).resolve().is_relative_to(real.resolve())


def test_std_always_means_the_stdlib(tmp_path: Path, capsys) -> None:
    """A `std/` folder beside the model never shadows the stdlib (decided, and documented in
    docs/language.md); a bare module name is the model's own file, even when the stdlib has one."""
    (tmp_path / "std").mkdir()
    (tmp_path / "std" / "priors.bnn").write_text("this would not parse {\n")
    (tmp_path / "priors.bnn").write_text("prior neal(q = 2.0) {\n  value ~ Normal(0, q)\n}\n")
    model = tmp_path / "m.bnn"
    model.write_text(model_with("import std.priors (neal)", "neal"))
    assert main(["check", str(model)]) == 0, capsys.readouterr().err
    program = parse(model.read_text(), str(model))
    assert Path(resolve_imports(program, tmp_path)["neal"].program.path) == stdlib_dir() / "priors.bnn"
    local = parse(model_with("import priors (neal)", "neal"), str(model))
    source = resolve_imports(local, tmp_path)["neal"]
    assert Path(source.program.path) == tmp_path / "priors.bnn"
    assert [p.name for p in source.definition.params] == ["q"]
    docs = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    assert "a `std/` folder beside the model never shadows it" in docs
    assert "symbolic link" in docs and "no `..`" in docs


@pytest.mark.parametrize("case", ["missing", "missing_in_subfolder", "a_folder", "bare_std", "no_folder"])
def test_a_missing_module_is_a_located_error(tmp_path: Path, case: str, capsys) -> None:
    """Local modules that do not exist (the error corpus covers a misspelled stdlib module)."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "dir.bnn").mkdir()  # a folder with a module's name
    (tmp_path / "std.bnn").write_text(MODULE)  # `std` alone names the stdlib, not this file
    module = {"missing": "nothere", "missing_in_subfolder": "lib.nothere", "a_folder": "dir", "bare_std": "std"}
    if case == "no_folder":  # a model given as text has no folder: only the stdlib is reachable
        (tmp_path / "wide.bnn").write_text(MODULE)
        with pytest.raises(BnnError, match="No module named 'wide'"):
            Model.from_source(model_with("import wide (wide)"))
        return
    model = tmp_path / "m.bnn"
    model.write_text(model_with(f"import {module[case]} (wide)"))
    _, message = refused(capsys, ["check", str(model)], line=1)
    assert message == f"No module named '{module[case]}'."


def test_a_module_cannot_import_further(folders: tuple[Path, Path], capsys) -> None:
    """Imports do not chain: a module holds only priors, so a module cannot widen what a model reaches."""
    model_dir, outside = folders
    (model_dir / "relay.bnn").write_text("import std.priors (neal)\n" + MODULE)
    model = model_dir / "m.bnn"
    model.write_text(model_with("import relay (wide)"))
    path, message = refused(capsys, ["check", str(model)], line=1)
    assert Path(path) == model_dir / "relay.bnn" and "may only define priors" in message


# ================================================================ 2. no injection

# Every position where the language takes a name or a number, as a slot; BASE fills them validly.
SLOT_MODEL = """import {MOD} ({IMP})
prior {PRIOR}({PP} = 1.0) {{
  param {PL} ~ {DIST}({PP})
  value ~ Normal(0, {PL})
}}
data {{
  {X}: real[{N}, {D}] from ({C1}, {C2})
  {Y}: real[{N}]
  {D} = {NUM}
}}
param {S} ~ HalfNormal({KW} = 1)
param {LS} ~ HalfNormal(1)
network {NET}({X}) -> real[{N}] {{
  default weight ~ {PRIOR}({PP} = 0.5)
  {LAYER}(3, {ACT}) {{ bias ~ {IMP}() }}
  dense(1)
}}
gp {F} ~ GP(0, {KERNEL}({LS})) on {X}
observe {Y} ~ Normal({NET}({X}) + {F}, {S})
infer {BACKEND}({SETTING} = {VALUE})
"""
BASE = {
    "MOD": "std.priors",
    "IMP": "neal",
    "PRIOR": "wide",
    "PP": "s",
    "PL": "tau",
    "DIST": "HalfNormal",
    "X": "x",
    "N": "N",
    "D": "D",
    "C1": "a",
    "C2": "b",
    "Y": "y",
    "NUM": "2",
    "S": "sigma",
    "KW": "scale",
    "LS": "ls",
    "NET": "mlp",
    "LAYER": "dense",
    "ACT": "tanh",
    "F": "f",
    "KERNEL": "RBF",
    "BACKEND": "svi",
    "SETTING": "guide",
    "VALUE": "map",
}
MARKER = "INJECTED"
PAYLOADS = [
    f"__import__('os').system('touch {MARKER}')",
    f'x);import os;os.system("touch {MARKER}");(',
    f"x\nimport pathlib\npathlib.Path('{MARKER}').touch()\n",
    '"""',
    "x'",
    f"exec(\"open('{MARKER}','w')\")",
    "_x",
    "x.__class__",
    "x\\",
    "é",
]


def slot_source(**fill: str) -> str:
    return SLOT_MODEL.format(**{**BASE, **fill})


def test_the_slot_model_compiles(tmp_path: Path, capsys) -> None:
    """The baseline of the injection test is a valid model, so each refusal below is the payload's doing."""
    model = tmp_path / "m.bnn"
    model.write_text(slot_source())
    assert main(["compile", str(model), "-o", str(tmp_path / "m.py")]) == 0, capsys.readouterr().err
    check_program((tmp_path / "m.py").read_text(), slot_source())


@pytest.mark.parametrize("slot", sorted(BASE))
def test_a_payload_in_any_name_or_number_position_is_refused(tmp_path: Path, monkeypatch, slot: str, capsys) -> None:
    """Python text in any identifier or number position is a located exit-2 error; nothing is written
    and nothing runs."""
    monkeypatch.chdir(tmp_path)
    model, out = tmp_path / "m.bnn", tmp_path / "m.py"
    for payload in PAYLOADS:
        model.write_text(slot_source(**{slot: payload}))
        refused(capsys, ["compile", str(model), "-o", str(out)])
        assert not out.exists() and not (tmp_path / MARKER).exists(), payload


COMMENTS = [
    f'# """; __import__("os").system("touch {MARKER}"); """',
    f"# '''; open('{MARKER}', 'w') '''",
    "# \\",
    "# ); exec(compile('1', 'x', 'exec')) #",
    "#\tlambda: __builtins__",
]


def test_comments_never_reach_the_program(tmp_path: Path, monkeypatch, capsys) -> None:
    """Comments full of Python (quotes, triple quotes, a trailing backslash) vanish: the program holds none
    of their text, and loading it runs nothing."""
    monkeypatch.chdir(tmp_path)
    lines = slot_source().splitlines()
    src = "\n".join(f"{line}  {COMMENTS[i % len(COMMENTS)]}" for i, line in enumerate(lines)) + "\n"
    model = tmp_path / "m.bnn"
    model.write_text(src)
    assert main(["compile", str(model), "-o", str(tmp_path / "m.py")]) == 0, capsys.readouterr().err
    program = (tmp_path / "m.py").read_text()
    for text in ("__import__", "system", MARKER, "'''", "exec(compile", "__builtins__", "\\\n"):
        assert text not in program, text
    check_program(program, src)
    load_program(program)
    assert not (tmp_path / MARKER).exists()


def test_the_file_name_never_reaches_code(tmp_path: Path, monkeypatch, capsys) -> None:
    """The model's file name is the one free text in the program (its docstring): quotes, newlines and
    code in it are neutralised."""
    monkeypatch.chdir(tmp_path)
    name = f"m'''\"\"\"\nimport pathlib; pathlib.Path('{MARKER}').touch()\n#\\.bnn"
    model = tmp_path / name
    model.write_text(slot_source())
    assert main(["compile", str(model), "-o", str(tmp_path / "m.py")]) == 0, capsys.readouterr().err
    program = (tmp_path / "m.py").read_text()
    first = ast.get_docstring(ast.parse(program)).splitlines()[0]
    assert re.fullmatch(r"NumPyro program generated by bnnc \S+ from [A-Za-z0-9_.\-]+\.", first), first
    assert program.count("\n") == Model.from_source(slot_source(), "m.bnn").python_source.count("\n")
    check_program(program, slot_source())
    load_program(program)
    assert not (tmp_path / MARKER).exists()


OVERFLOW_MODEL = """prior wide(s = {DEFAULT}) {{
  value ~ Normal(0, s)
}}
data {{ x: real[N, 1]  y: real[N]  K = {DIM} }}
param sigma ~ HalfNormal({SCALE})
network mlp(x) -> real[N] {{
  default weight ~ wide()
  dense({UNITS})
}}
observe y ~ Normal(mlp(x) + {LOC}, sigma)
infer nuts(chains = {CHAINS})
"""
NUMBERS = {"DEFAULT": "1.0", "DIM": "3", "SCALE": "1", "UNITS": "1", "LOC": "0", "CHAINS": "1"}


@pytest.mark.parametrize(
    ("slot", "literal"),
    [
        ("SCALE", "1e999"),
        ("LOC", "1E+400"),
        ("DEFAULT", "1" + "0" * 400),
        ("DIM", "1e400"),
        ("UNITS", "1e400"),
        ("CHAINS", "1e999"),
    ],
)
def test_a_number_that_overflows_is_refused(tmp_path: Path, slot: str, literal: str, capsys) -> None:
    """`1e999` is infinity: printed with repr() it would be the *name* `inf` (a NameError, or a model
    variable called `inf`), and int() of it crashes. It is a located error at the literal instead."""
    src = OVERFLOW_MODEL.format(**{**NUMBERS, slot: literal})
    model = tmp_path / "m.bnn"
    model.write_text(src)
    rc = main(["compile", str(model)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "", err
    m = HEADER.match(err.splitlines()[0])
    line = next(i for i, text in enumerate(src.splitlines(), 1) if literal in text)
    assert m and (int(m["line"]), int(m["col"])) == (line, src.splitlines()[line - 1].index(literal) + 1), err
    assert "too large" in m["message"]


@pytest.mark.parametrize(
    ("fill", "literal"),
    [({"SCALE": ".5"}, "0.5"), ({"LOC": "1e-999"}, "0.0"), ({"LOC": "0." + "0" * 3000 + "1"}, "0.0")],
)
def test_unusual_numbers_become_float_literals(fill: dict[str, str], literal: str) -> None:
    """Leading dots, underflow and very long literals become plain float literals."""
    src = OVERFLOW_MODEL.format(**{**NUMBERS, **fill})
    program = Model.from_source(src).python_source
    check_program(program, src)
    assert re.search(rf"[(, ]{re.escape(literal)}[),]", program)


# ---------------------------------------------------------------- names the program itself uses

# Python keywords, names the generated program binds or reads, builtins, and `name_` twins (the old
# `name_` mangling made `jnp` and `jnp_` one variable).
HOSTILE = [k for k in keyword.kwlist if k not in RESERVED] + [
    *"jax jnp jnp_ numpyro dist dist_ tinygp np math sys model model_ main main_ DATA DIM_ARGS".split(),
    *"DETERMINISTIC GP_NORMAL STANDARDIZED INFER len len_ range float sorted print exec eval open".split(),
    *"compile globals getattr type object os kwargs inf nan relu neal KeyError TypeError ValueError".split(),
]
BNN = """
prior {P}({PP} = 1.0) {{
  param {PL} ~ HalfNormal({PP})
  value ~ Normal(0, {PL})
}}
data {{
  {X}: real[{N}, {D}] from ({C1}, {C2})
  {Y}: real[{N}]
  {W}: real[{M}]
  {D} = 2
}}
param {S} ~ HalfNormal(1)
param {O} ~ Normal(0, 1)
network {NET}({X}) -> real[{N}] {{
  default weight ~ {P}({PP} = 0.5)
  dense(3, tanh)
  dense(1)
}}
observe {Y} ~ Normal({NET}({X}) + {O}, {S})
observe {W} ~ Normal({O}, 1)
"""
BNN_SLOTS = ["P", "PP", "PL", "X", "N", "D", "C1", "C2", "Y", "W", "M", "S", "O", "NET"]
GP = """
data {{ {X}: real[{N}, 1]  {Y}: real[{N}] }}
param {LS} ~ HalfNormal(1)
param {S} ~ HalfNormal(1)
network {NET}({X}) -> real[{N}] {{
  dense(2, tanh)
  dense(1)
}}
prior {NET} ~ GP(0, RBF({LS})) at context({X})
gp {F} ~ GP(0, RBF({LS}), inducing = 3) on {X}
observe {Y} ~ Normal({F} + {NET}({X}), {S})
"""
GP_SLOTS = ["X", "N", "Y", "LS", "S", "NET", "F"]
DATA_SLOTS = {"X", "Y", "W"}  # data variables (passed to NumPyro's functions as keyword arguments)
# GP code is slow to evaluate eagerly: its rotation uses the names GP code itself touches.
GP_HOSTILE = "jax jnp jnp_ tinygp dist numpyro model main GP_NORMAL lambda class None len range sorted".split()
ROWS = np.random.default_rng(0).normal(size=(6, 4)).round(4)


def plain(slots: list[str]) -> dict[str, str]:
    return {s: s.lower() + "v" for s in slots}


def write_csv(path: Path, names: dict[str, str], columns: list[str]) -> Path:
    rows = ROWS[:, : len(columns)]
    path.write_text(",".join(names[c] for c in columns) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def density(template: str, names: dict[str, str], columns: list[str], folder: Path):
    """(log density, the sampled values in site order) of the model at a seeded draw from its prior, with
    the data bound as `bnnc run` binds it (by model name)."""
    model = Model.from_source(template.format(**names))
    check_program(model.python_source, template.format(**names))
    bound = model.data(write_csv(folder / "d.csv", names, columns))
    kwargs = bound.model_kwargs(model.checked)
    kwargs.update(model.gp_inputs(kwargs))
    fn = functools.partial(model.module.model, **kwargs)
    trace = handlers.trace(handlers.seed(fn, 0)).get_trace()
    params = {k: v["value"] for k, v in trace.items() if v["type"] == "sample" and not v["is_observed"]}
    return float(log_density(fn, (), {}, params)[0]), [np.asarray(v) for v in params.values()], list(params)


@pytest.mark.parametrize(
    ("template", "slots", "columns", "hostile"),
    [(BNN, BNN_SLOTS, ["C1", "C2", "Y", "W"], HOSTILE), (GP, GP_SLOTS, ["X", "Y"], GP_HOSTILE)],
    ids=["bnn", "gp"],
)
def test_hostile_names_in_every_position_leave_the_model_unchanged(
    tmp_path: Path, template: str, slots: list[str], columns: list[str], hostile: list[str]
) -> None:
    """Each hostile name sits once in every name position (a rotation); each model must give the same
    draws and log density as the model with plain names: nothing shadowed, nothing merged."""
    assert not set(hostile) & set(RESERVED) and len(set(hostile)) == len(hostile) >= len(slots)
    ref_logp, ref_values, ref_sites = density(template, plain(slots), columns, tmp_path)
    refused = 0
    for k in range(len(hostile)):
        names = {s: hostile[(k + j) % len(hostile)] for j, s in enumerate(slots)}
        if any(names[s] in NUMPYRO_ARGUMENTS for s in DATA_SLOTS & set(slots)):
            with pytest.raises(BnnError, match="cannot name data"):  # see test_data_named_like_numpyros_...
                Model.from_source(template.format(**names))
            refused += 1
            continue
        logp, values, sites = density(template, names, columns, tmp_path)
        rename = {v: names[s] for s, v in plain(slots).items()}
        assert sites == [".".join(rename.get(p, p) for p in s.split(".")) for s in ref_sites], names
        assert logp == pytest.approx(ref_logp, rel=1e-6), names
        assert all(np.array_equal(a, b) for a, b in zip(values, ref_values)), names
    assert refused < len(hostile) // 4


def test_every_builtin_and_global_of_the_program_is_guarded() -> None:
    """GENERATED_NAMES (what a model name may not be, verbatim, in the program) holds every module-level
    name and builtin the generated programs use, so new generated code cannot be shadowed unnoticed."""
    sources = [(p.read_text(), Model.from_file(p)) for p in sorted((ROOT / "examples").glob("*.bnn"))]
    sources += [
        (t.format(**plain(s)), Model.from_source(t.format(**plain(s)))) for t, s in ((BNN, BNN_SLOTS), (GP, GP_SLOTS))
    ]
    seen: set[str] = set()
    for text, model in sources:
        tree = ast.parse(model.python_source)
        words = model_words(text, model)
        top: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                top.add(node.name)
            elif isinstance(node, ast.Assign):
                top |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                top |= {(a.asname or a.name).split(".")[0] for a in node.names}
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in dir(builtins)}
        used = {n for n in top | read if not n.startswith("_") and n not in words}
        assert used <= GENERATED_NAMES, sorted(used - GENERATED_NAMES)
        seen |= used
    assert {"jnp", "dist", "numpyro", "model", "INFER", "len", "range", "int"} <= seen


# ---------------------------------------------------------------- the static check


def model_words(text: str, model: Model | None = None) -> set[str]:
    """The names a model (and the modules it imports) gives the compiler: NAME tokens outside comments."""
    texts = [text]
    if model is not None:
        texts += [s.program.source for s in resolve_imports(model.program, model.model_dir).values()]
    return {w for t in texts for w in NAME.findall(re.sub(r"#[^\n]*", "", t))}


GENERATOR = "\n".join(
    (PACKAGE / f).read_text(encoding="utf-8")
    for f in (
        "codegen/emit.py",
        "codegen/gp_code.py",
        "codegen/names.py",
        "check/distributions.py",
        "check/settings.py",
        "check/backends.py",
        *(str(p.relative_to(PACKAGE)) for p in sorted((PACKAGE / "check" / "nn").glob("*.py"))),  # layers' code
    )
)
GENERATOR_WORDS = set(WORD.findall(GENERATOR))
CALLS_THAT_RUN_TEXT = {"exec", "eval", "compile", "__import__", "getattr", "setattr", "open", "globals", "vars"}


def check_program(source: str, text: str, model: Model | None = None) -> None:
    """The generated program is Python built only from the generator's own text plus the model's NAMEs and
    numbers: every identifier is the generator's, `_`-prefixed, or a model NAME; every string is a
    dotted site/dim name or the generator's text; every number is a finite int/float; and it never calls
    anything that would run text."""
    tree = ast.parse(source)
    words = model_words(text, model)
    ok_word = GENERATOR_WORDS | words | {"bnnc"}
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef)) and ast.get_docstring(node, clean=False) is not None
    }
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    module_doc = tree.body[0].value
    assert id(module_doc) in docstrings
    head = r"^NumPyro program generated by bnnc \S+ from [A-Za-z0-9_.\-]+\."
    assert re.match(head, module_doc.value), module_doc.value  # the file name, sanitised
    module_doc.value = re.sub(head, "", module_doc.value)
    for node in ast.walk(tree):
        ids = []
        if isinstance(node, ast.Name):
            ids = [node.id]
        elif isinstance(node, ast.arg):
            ids = [node.arg]
        elif isinstance(node, ast.FunctionDef):
            ids = [node.name]
        elif isinstance(node, ast.keyword) and node.arg:
            ids = [node.arg]
        elif isinstance(node, ast.Attribute):
            ids = [node.attr]
        for name in ids:
            if name.startswith("_bnn_"):
                assert name[5:] in words and NAME.fullmatch(name[5:]), name
            else:
                assert name.startswith("_") or name in ok_word, name
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS_THAT_RUN_TEXT:
            assert node.func.id in defined, ast.unparse(node)  # a network called `exec`, not the builtin
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str):
                if id(node) in docstrings:  # prose of the generator around model names and numbers
                    assert value in GENERATOR or set(WORD.findall(value)) <= ok_word, value
                else:
                    assert (re.fullmatch(r"[A-Za-z0-9_.]*", value) and set(WORD.findall(value)) <= ok_word) or (
                        value in GENERATOR
                    ), value
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                assert math.isfinite(value), value
            else:
                assert value is None or value is Ellipsis or isinstance(value, bool), repr(value)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.bnn")), ids=lambda p: p.name)
def test_example_programs_hold_only_names_and_numbers(path: Path) -> None:
    """The static check on every example (GPs, function priors, imports, partial networks...)."""
    model = Model.from_file(path)
    check_program(model.python_source, path.read_text(), model)


# ================================================================ the shared run: hostile names and paths

RUN_NAMES = {
    "P": "len",
    "PP": "float",
    "PL": "jnp_",
    "X": "lambda",
    "N": "class",
    "D": "range",
    "C1": "print",
    "C2": "exec",
    "Y": "dist",
    "W": "jnp",
    "M": "sys",
    "S": "numpyro",
    "O": "None",
    "NET": "model",
}
RUN_INFER = "infer nuts(chains = 1, warmup = 50, samples = 50, seed = 3)\n"
# Comments and paths carry markup; the names are as hostile as the grammar allows.
RUN_COMMENT = "# <script>alert('model')</script> & \"q\" <b>bold</b>\n"
HOSTILE_DIR = "<img src=x onerror=alert(1)>&amp;\"q'"
HOSTILE_CSV = 'd<script>alert("d")<_script>&\'.csv'
HOSTILE_MODEL = "m<i>\"'&lt;.bnn"
EXTRA_COLUMN = '<b onclick="alert(1)">&amp;</b>'
HOSTILE_OUT = "<iframe srcdoc='x'></iframe>&\"/run"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> dict[str, Any]:
    """`bnnc run --report` on the hostile-named model, from hostile paths (one short NUTS run)."""
    root = tmp_path_factory.mktemp("hostile")
    folder = root / HOSTILE_DIR
    folder.mkdir()
    model = folder / HOSTILE_MODEL
    model.write_text(RUN_COMMENT + BNN.format(**RUN_NAMES) + RUN_INFER)
    csv = write_csv(folder / HOSTILE_CSV, RUN_NAMES, ["C1", "C2", "Y", "W"])
    lines = csv.read_text().splitlines()  # a column the model does not use, with a markup header
    csv.write_text("\n".join([lines[0] + "," + EXTRA_COLUMN] + [row + ",0" for row in lines[1:]]) + "\n")
    out = root / HOSTILE_OUT
    rc = main(["run", str(model), "--data", str(csv), "-o", str(out), "-q", "--report"])
    assert rc == 0
    return {"model": model, "csv": csv, "out": out}


def test_hostile_names_run_like_plain_ones(hostile_run: dict[str, Any], tmp_path: Path) -> None:
    """End to end through `bnnc run`: at the run's own posterior draws, the hostile model saved in the run
    (model.bnn, reopened) has the plain model's log density. (The draws themselves differ: JAX orders
    a dict of sites by name, so renaming reorders the sampler's vector.)"""
    run = open_run(hostile_run["out"])
    names = plain(BNN_SLOTS)
    rename = {v: RUN_NAMES[s] for s, v in names.items()}
    plain_model = Model.from_source(BNN.format(**names))
    plain_kwargs = plain_model.data(write_csv(tmp_path / "d.csv", names, ["C1", "C2", "Y", "W"])).model_kwargs(
        plain_model.checked
    )
    kwargs = run.model.data(hostile_run["csv"]).model_kwargs(run.model.checked)
    post = run.idata.posterior
    sites = {site: ".".join(rename.get(p, p) for p in site.split(".")) for site in plain_model.checked.sample_sites()}
    assert set(post.data_vars) == set(sites.values())
    for draw in (0, 17, 49):
        hostile = {h: post[h].values[0, draw] for h in sites.values()}
        assert all(np.isfinite(v).all() for v in hostile.values())
        at = {p: hostile[h] for p, h in sites.items()}
        want = log_density(plain_model.module.model, (), plain_kwargs, at)[0]
        got = log_density(run.model.module.model, (), kwargs, hostile)[0]
        assert float(got) == pytest.approx(float(want), rel=1e-5)


def test_the_standalone_program_runs_with_hostile_names(hostile_run: dict[str, Any], tmp_path, capsys) -> None:
    """model.py's own `main` (what `python model.py data.npz` runs) reads `range`, `int` and `jnp`; a
    data constant named `range` or data named `jnp` must not shadow them."""
    source = (hostile_run["out"] / "model.py").read_text()
    check_program(source, BNN.format(**RUN_NAMES))
    program = load_program(source)
    npz = tmp_path / "d.npz"
    np.savez(npz, **{"lambda": ROWS[:, :2], "dist": ROWS[:, 2], "jnp": ROWS[:, 3], "sys": np.int64(len(ROWS))})
    program.main([str(npz)])
    out = capsys.readouterr().out
    assert "numpyro" in out and "model.0.weight" in out  # print_summary names the hostile sites


@pytest.mark.parametrize("name", sorted(NUMPYRO_ARGUMENTS))
def test_data_named_like_numpyros_own_arguments_is_refused(name: str, tmp_path: Path) -> None:
    """The backends pass data to MCMC.run, log_likelihood, get_trace and Predictive as keyword arguments, beside
    their own (`rng_key`, `model`, `self`, ...): such a data name is refused before anything runs (it used to
    crash a run with exit 3), and the checker's list holds every argument of those functions."""
    import inspect

    from numpyro.handlers import trace
    from numpyro.infer import MCMC, Predictive, log_likelihood

    own = set()
    for fn in (MCMC.run, log_likelihood, trace.get_trace, Predictive.__call__):
        own |= {
            p.name for p in inspect.signature(fn).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
    assert own == NUMPYRO_ARGUMENTS
    (tmp_path / "m.bnn").write_text(
        f"data {{ {name}: real[N, 1]  y: real[N] }}\nnetwork mlp({name}) -> real[N] {{ dense(1) }}\n"
        f"observe y ~ Normal(mlp({name}), 1)\n"
    )
    np.savez(tmp_path / "d.npz", **{name: ROWS[:, :1], "y": ROWS[:, 1]})
    assert main(["run", str(tmp_path / "m.bnn"), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


# ================================================================ 3. reports escape everything

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p", "div", "b"}
ALLOWED_TAGS |= {"table", "tr", "th", "td", "details", "summary", "figure", "img", "figcaption", "pre", "ul", "li"}
ALLOWED_ATTRS = {"lang", "charset", "name", "content", "class", "id", "alt", "src"}


class _Page(HTMLParser):
    """Tags, attributes and the decoded text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_report_escapes_every_user_string(hostile_run: dict[str, Any]) -> None:
    """report.html shows the model path, data path, run folder and model text (markup, quotes, `&`,
    an already-escaped `&amp;`) as text: the page has only the report's own tags and attributes, and
    its decoded text holds each string exactly (escaped once, not dropped, not doubly escaped)."""
    raw = (hostile_run["out"] / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(raw)
    page.close()
    for tag, attrs in page.tags:
        assert tag in ALLOWED_TAGS, tag
        for attr, value in attrs:
            assert attr in ALLOWED_ATTRS, (tag, attr)
            if attr == "src":
                assert value is not None and value.startswith("data:image/png;base64,"), value[:80]
    text = "".join(page.text)
    for user in (str(hostile_run["model"]), str(hostile_run["csv"]), str(hostile_run["out"]), RUN_COMMENT.strip()):
        assert user in text, user
        assert html.escape(user, quote=True) in raw
    assert "<script" not in raw and "<iframe" not in raw and "<img src=x" not in raw and "<i>" not in raw
    assert "<b onclick" not in raw  # CSV headers the model does not name never reach the page


# ================================================================ 4. never pickle

NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02")
TEXT_SUFFIXES = {".bnn", ".py", ".csv", ".txt", ".html"}


def test_a_run_directory_holds_no_pickles(hostile_run: dict[str, Any]) -> None:
    """Every file of a finished run (with its report) is NetCDF/HDF5, JSON or UTF-8 text."""
    out: Path = hostile_run["out"]
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {"posterior.nc", "settings.json", "summary.json", "model.bnn", "model.py", "report.html"} <= {
        p.name for p in files
    }
    for f in files:
        data = f.read_bytes()
        assert not data.startswith(b"\x80"), f"{f.name} looks like a pickle"
        if f.suffix == ".nc":
            assert data.startswith(NETCDF_MAGIC), f.name
        elif f.suffix == ".json":
            json.loads(data.decode("utf-8"))
        else:
            assert f.suffix in TEXT_SUFFIXES, f"unexpected file {f.name}"
            assert "\x00" not in data.decode("utf-8"), f.name
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no stage left behind


UNPICKLERS = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}


def _unpickling(tree: ast.AST) -> tuple[list[str], int]:
    """(what in this tree may unpickle, how many np.load calls it makes)."""
    bad, loads = [], 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.split(".")[0] in UNPICKLERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
            bad.append(node.module)
        elif isinstance(node, ast.Attribute) and "pickle" in node.attr.lower():
            bad.append(ast.unparse(node))
        elif isinstance(node, ast.Call):
            kw = {k.arg: k.value for k in node.keywords}
            if "allow_pickle" in kw and not (
                isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False
            ):
                bad.append(ast.unparse(node))
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "load" and isinstance(f.value, ast.Name):
                if f.value.id in ("np", "numpy"):
                    loads += 1
                    if "allow_pickle" not in kw:  # say it: numpy's default has changed before
                        bad.append(ast.unparse(node))
                elif f.value.id in ("torch", "pickle", "dill", "joblib"):
                    bad.append(ast.unparse(node))
    return bad, loads


def test_nothing_in_the_package_or_its_programs_unpickles(hostile_run: dict[str, Any]) -> None:
    """No pickle-family import, no `allow_pickle` other than False, every np.load says allow_pickle=False:
    in bnnlang's source and in a generated program."""
    loads = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        bad, n = _unpickling(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        assert not bad, f"{path.relative_to(ROOT)}: {bad}"
        loads += n
    assert loads >= 2  # data and checkpoints are read with np.load: the walk did see them
    bad, n = _unpickling(ast.parse((hostile_run["out"] / "model.py").read_text()))
    assert not bad and n == 1


class _Touch:
    """Unpickling this creates a file: the proof that nothing was unpickled is that the file is absent."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


@pytest.mark.parametrize("command", ["check", "run"])
def test_an_npz_with_an_object_array_is_refused(tmp_path: Path, monkeypatch, command: str, capsys) -> None:
    """Object arrays in an NPZ are pickles: they are refused (exit 2, at the declaration), never loaded."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / MARKER
    model = tmp_path / "m.bnn"
    model.write_text(BODY.format(prior="neal").replace("default weight ~ neal()\n  ", ""))
    npz = tmp_path / "d.npz"
    np.savez(npz, x=np.array([[_Touch(marker)]] * 4, dtype=object), y=np.zeros(4))
    argv = (
        ["check", str(model), "--data", str(npz)]
        if command == "check"
        else ["run", str(model), "--data", str(npz), "-q"]
    )
    path, message = refused(capsys, argv, line=2)
    assert Path(path) == model and "'x'" in message
    assert not marker.exists() and not (tmp_path / "runs").exists()
