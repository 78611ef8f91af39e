"""Resolve `import` statements to prior definitions.

`std.<module>` names a file in the stdlib; any other module name is a file
next to the model (`a.b` is `a/b.bnn`). Module paths are identifiers joined by
dots (the grammar guarantees it: no `/`, no `..`), and a module whose real path
(symlinks followed) leaves its folder is refused, so an import can never reach
outside those two folders.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import Location, undecodable_byte
from ..syntax import tree as t
from ..syntax.parser import parse
from . import network_messages as net_msg
from .env import PriorSource

_PACKAGE = Path(__file__).resolve().parent.parent
STDLIB_CANDIDATES = (_PACKAGE / "_stdlib", _PACKAGE.parent / "stdlib")


def stdlib_dir() -> Path:
    for path in STDLIB_CANDIDATES:
        if path.is_dir():
            return path
    raise FileNotFoundError("bnnlang's stdlib folder is missing from the installation")


def module_root(module: tuple[str, ...], model_dir: Path | None) -> Path | None:
    """The folder a module must lie in: the stdlib for `std.*`, else the model's folder."""
    if module[0] == "std":
        return stdlib_dir() if len(module) >= 2 else None
    return model_dir


def module_file(module: tuple[str, ...], model_dir: Path | None) -> Path | None:
    root = module_root(module, model_dir)
    if root is None:
        return None
    names = module[1:] if module[0] == "std" else module
    return root.joinpath(*names[:-1], names[-1] + ".bnn")


def available_modules(model_dir: Path | None) -> list[str]:
    names = ["std." + p.stem for p in stdlib_dir().glob("*.bnn")]
    if model_dir is not None and model_dir.is_dir():
        names += [p.stem for p in model_dir.glob("*.bnn")]
    return names


def resolve_imports(program: t.Program, model_dir: Path | None) -> dict[str, PriorSource]:
    """Map each imported name to its prior definition and the module it is written in."""
    resolved: dict[str, PriorSource] = {}
    for item in program.items:
        if not isinstance(item, t.Import):
            continue
        modname = ".".join(item.module)
        loc = program.at(item.span)
        path = module_file(item.module, model_dir)
        if path is None or not _is_file(path):
            raise net_msg.no_module(loc, modname, available_modules(model_dir))
        root = module_root(item.module, model_dir)
        if root is not None and not path.resolve().is_relative_to(root.resolve()):
            raise net_msg.module_outside(loc, modname, stdlib=item.module[0] == "std")
        text = _module_text(path, modname, loc)
        module = parse(text, str(path))
        defs = {d.name: d for d in module.items if isinstance(d, t.PriorDef)}
        for bad in (i for i in module.items if not isinstance(i, t.PriorDef)):
            raise net_msg.module_not_only_priors(replace(module.at(bad.span), end_column=None))
        for name in item.names:
            if name.id not in defs:
                raise net_msg.no_such_prior(program.at(name.span), modname, name.id, defs)
            resolved[name.id] = PriorSource(modname, defs[name.id], module)
    return resolved


def _is_file(path: Path) -> bool:
    """Path.is_file, and False for a name the file system refuses (too long: an OSError before Python 3.12)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _module_text(path: Path, modname: str, loc: Location) -> str:
    """A module's text; a non-UTF-8 byte is located in the module, as it is in a model file."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise net_msg.unreadable_module(loc, modname, path.name, err.strerror) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise net_msg.module_not_utf8(undecodable_byte(str(path), raw, err), modname, raw[err.start]) from None
