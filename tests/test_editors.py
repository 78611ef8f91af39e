"""The VS Code extension (editors/vscode/) knows the language the parser and checker know.

The TextMate grammar is generated from grammar/bnn.lark and bnnlang/check's tables: these tests fail when a
keyword, distribution or layer is added without regenerating it, when a pattern would not compile, when a
shipped example's keywords would not be highlighted as keywords, and when the manifest points at files that
are not there.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bnnlang.check.backends import BACKENDS
from bnnlang.check.distributions import ACTIVATIONS, DISTRIBUTIONS, KERNELS
from bnnlang.check.nn import BLOCKS, LAYERS

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = ROOT / "grammar" / "bnn.lark"
TM = VSCODE / "syntaxes" / "bnn.tmLanguage.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.bnn")) + sorted((ROOT / "stdlib").glob("*.bnn"))
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def lark_keywords() -> set[str]:
    """The grammar's identifier-like string literals ("data", "real", ...), read apart from the generator: every
    quoted literal outside `//` comments, kept when it is a word."""
    found: set[str] = set()
    for line in GRAMMAR.read_text(encoding="utf-8").splitlines():
        code = line.split("//", 1)[0]
        found |= {lit for lit in re.findall(r'"([^"]*)"', code) if IDENT.fullmatch(lit)}
    return found


def tm_grammar() -> dict[str, Any]:
    return json.loads(TM.read_text(encoding="utf-8"))


def alternatives(pattern: str) -> set[str]:
    """The words of a `\\b(?:a|b|c)\\b` pattern."""
    m = re.fullmatch(r"\\b\(\?:([A-Za-z0-9_|]+)\)\\b", pattern)
    assert m, f"keyword pattern is not a plain word list: {pattern}"
    return set(m.group(1).split("|"))


def ordered_patterns(tm: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """The top-level patterns in order, includes resolved: the order TextMate tries them in."""
    out = []
    for entry in tm["patterns"]:
        for p in tm["repository"][entry["include"].lstrip("#")]["patterns"]:
            out.append((re.compile(p["match"]), p["name"]))
    return out


def tokenize(line: str, patterns: list[tuple[re.Pattern[str], str]]) -> list[tuple[int, int, str]]:
    """(start, end, scope) spans as TextMate finds them: at each position the earliest match wins, the first
    pattern on a tie; text between matches has no scope."""
    spans, pos = [], 0
    while pos < len(line):
        best = None
        for rx, scope in patterns:
            m = rx.search(line, pos)
            if m and m.end() > m.start() and (best is None or m.start() < best[0]):
                best = (m.start(), m.end(), scope)
        if best is None:
            break
        spans.append(best)
        pos = best[1]
    return spans


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bnn_vscode_generate_grammar", VSCODE / "generate_grammar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- (a) keywords, (b) generated, (c) patterns


def test_the_grammar_has_the_keywords_the_parser_reserves() -> None:
    """The independent reading of the Lark file finds what the parser treats as reserved words."""
    from bnnlang.syntax.parser import RESERVED

    assert lark_keywords() == set(RESERVED)


def test_vscode_keywords_are_the_lark_grammars() -> None:
    tm = tm_grammar()
    words: set[str] = set()
    for p in tm["repository"]["keywords"]["patterns"]:
        words |= alternatives(p["match"])
    missing, extra = lark_keywords() - words, words - lark_keywords()
    assert not missing and not extra, (
        f"VS Code grammar lacks {sorted(missing)}, has extra {sorted(extra)}: "
        "run python editors/vscode/generate_grammar.py"
    )


def test_the_checked_in_grammar_is_what_the_generator_writes_now() -> None:
    """A new distribution, layer, kernel, backend or keyword fails here until the grammar is regenerated."""
    generator = load_generator()
    assert TM.read_text(encoding="utf-8") == generator.render(), "run python editors/vscode/generate_grammar.py"
    assert generator.main(["--check"]) == 0


def test_the_tables_reach_the_grammar() -> None:
    """Every distribution, kernel, layer, activation and backend is a word of some support pattern."""
    tm = tm_grammar()
    support: set[str] = set()
    for key in ("distributions", "layers", "backends"):
        for p in tm["repository"][key]["patterns"]:
            assert p["name"].startswith("support."), p["name"]
            support |= alternatives(p["match"])
    assert set(DISTRIBUTIONS) | set(KERNELS) | (set(LAYERS) | set(BLOCKS)) | set(BACKENDS) <= support
    assert (set(ACTIVATIONS) - {""}) <= support


def test_every_pattern_compiles_and_numbers_and_comments_match_the_grammar() -> None:
    patterns = dict((scope, rx) for rx, scope in ordered_patterns(tm_grammar()))
    number = patterns["constant.numeric.bnn"]
    for text in ("0", "12", "0.5", ".5", "1e-4", "2.5E+3"):
        assert number.fullmatch(text), text
    assert not number.search("x1") and not number.search("layer_2")
    assert patterns["comment.line.number-sign.bnn"].match("# a comment ~ Normal(0, 1)").end() == 26


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_highlight_every_keyword_as_a_keyword(path: Path) -> None:
    """Tokenised with the grammar's own patterns in order, every keyword of every shipped model is scoped as a
    keyword (statements, modifiers, base types) and every distribution as a support class; no other word is a
    keyword, and comments are comments."""
    tm = tm_grammar()
    patterns = ordered_patterns(tm)
    keyword_scopes = {p["name"] for p in tm["repository"]["keywords"]["patterns"]}
    keywords = lark_keywords()
    seen: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        spans = tokenize(line, patterns)
        scope_at = {start: (end, scope) for start, end, scope in spans}
        code, hash_, _ = line.partition("#")  # the language has no strings: `#` always starts a comment
        if hash_:
            assert (len(code), len(line), "comment.line.number-sign.bnn") in spans, line
        for m in IDENT.finditer(code):
            end, scope = scope_at.get(m.start(), (None, None))
            word = m.group()
            if word in keywords:
                seen.add(word)
                assert end == m.end() and scope in keyword_scopes, (line, word, scope)
            else:
                assert scope not in keyword_scopes, (line, word, scope)
            if word in DISTRIBUTIONS:
                assert end == m.end() and scope.startswith("support."), (line, word, scope)
    if path.parent.name == "examples":
        assert {"data", "observe"} <= seen, path


def test_the_shipped_examples_use_the_main_keywords() -> None:
    """So the test above covers `network`, `observe`, `infer`, `param` and `data` at least once."""
    text = "".join(p.read_text(encoding="utf-8") for p in EXAMPLES)
    for word in ("network", "observe", "infer", "param", "data", "import", "default", "real", "int"):
        assert re.search(rf"(?m)^[^#\n]*\b{word}\b", text), word


# ---------------------------------------------------------------- (d) the manifest and the configuration


def test_package_json_contributes_the_language_its_grammar_and_configuration() -> None:
    pkg = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    contributes = pkg["contributes"]
    lang = contributes["languages"][0]
    assert lang["id"] == "bnn" and lang["extensions"] == [".bnn"]
    assert (VSCODE / lang["configuration"]).is_file()
    grammar = contributes["grammars"][0]
    assert grammar["language"] == lang["id"] and (VSCODE / grammar["path"]).resolve() == TM.resolve()
    assert grammar["scopeName"] == tm_grammar()["scopeName"]
    assert f"onLanguage:{lang['id']}" in pkg["activationEvents"]
    assert (VSCODE / pkg["main"]).is_file()
    assert "vscode-languageclient" in pkg["dependencies"]
    props = contributes["configuration"]["properties"]
    assert props["bnnlang.server.command"]["default"] == ["bnnc", "lsp"]
    assert "bnnlang.data" in props


def test_extension_starts_the_configured_server_over_stdio() -> None:
    """No Node here: read extension.js for what it must do."""
    js = (VSCODE / "extension.js").read_text(encoding="utf-8")
    assert 'require("vscode-languageclient/node")' in js and "TransportKind.stdio" in js
    assert '"server.command"' in js and '"data"' in js and "initializationOptions" in js
    assert "exports.activate" in js and "exports.deactivate" in js


def test_language_configuration_comments_are_the_grammars() -> None:
    config = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    comment = re.search(r"^COMMENT:\s*/(.+)/", GRAMMAR.read_text(encoding="utf-8"), re.M).group(1)
    token = config["comments"]["lineComment"]
    assert re.match(comment, token + " a comment").end() == len(token) + len(" a comment")
    assert comment.startswith(re.escape(token)) or comment.startswith(token)
    assert sorted(map(tuple, config["brackets"])) == [("(", ")"), ("[", "]"), ("{", "}")]
    assert {(p["open"], p["close"]) for p in config["autoClosingPairs"]} == {("(", ")"), ("[", "]"), ("{", "}")}
