"""Fuzzing `bnnc check`, `bnnc fmt` and `bnnc check --data` with generated, mutated and oversized inputs.

Why: the error corpus (tests/errors/) pins the messages for bad inputs someone thought of. These tests throw
inputs nobody thought of at the same entry points and check what must hold for every one of them:

* models (seeds: examples/*.bnn, stdlib/*.bnn, and `hypothesis.extra.lark.from_lark` on grammar/bnn.lark;
  mutations drop, duplicate, swap and replace tokens and lines, truncate, insert random and non-UTF-8 bytes and
  deeply nested or huge snippets): `check` and `fmt` exit 0, or exit 2 with exactly one error stanza
  (`path:line:col: error: ...` or `path: error: ...`, the framed line really is that line of the file, the caret
  starts under the column, a hint), never exit 3, a traceback or an uncaught exception, and each run stays under a
  time limit (enforced with SIGALRM). Whatever `fmt` accepts, its output parses to the same tree, keeps the
  comments and is a fixed point; whatever `check` accepts, `check` and `compile` accept formatted too. Spaces,
  tabs and the line-end convention change nothing. Thousands of nested brackets, 1 MB identifiers and files of
  several MB are refused or accepted cleanly and in time; memory and open files stay bounded over many inputs.
* networks of the layers in check/nn/ (LAYER_SEEDS join the seeds; `layer_models` draws stacks of layers from
  the layer table with random arguments, blocks (residual, deterministic, concat) and inputs of every rank, real
  or int ids, one or two of them): the same promises, and for each model `check` accepts, the compiled network
  traced by `jax.eval_shape` on inputs of the declared shapes gives the output shape the checker derived.
* data (bases: examples/data/*.csv for a regression, a 3-class, a Bernoulli and a Poisson model): random CSV and
  NPZ corruptions on top of valid files. `check --data` exits 0 exactly when the data are valid (and then reports
  the right row count), else exits 2 with one located error naming the data file. Byte-level chaos on valid files
  must give 0 or a clean 2. Images, sequences (of a length the data fix) and token ids in NPZ files: ranks,
  sizes, ids out of range or not whole, labels, NaN, dtypes, rows, the same oracle.

Default run: about 1,200 cases (300 mutants, 120 grammar-generated, 120 networks of layers, 60 re-laid-out seeds,
25 extreme inputs, 250 CSV, 150 NPZ, 80 NPZ of any rank, 100 chaos, 60 in the memory loop, 5 in subprocesses),
derandomized; about 90 s on 2 cores.
Long run, `pytest -m slow tests/test_fuzz.py`, done once on 2026-11-23 (2 cores shared with other work):
10,000 model cases (6,000 mutants, 27% of them accepted and so also formatted, re-checked and compiled; 2,000
grammar-generated; 2,000 re-laid-out seeds) in 350 s, a 3 MB model in 182 s (check, fmt twice, check and compile
of 110,000 statements: Lark reads about 100 kB/s), and 4,500 data cases (2,500 CSV, 35% valid; 1,500 NPZ, 42%
valid; 500 chaos) in 68 s. After the fixes below, no failures in bnnc; it did find holes in this file's own
validity oracle (two unclosed quotes that pair up, a duplicated column renamed back) and generators, fixed here.

Bugs this found, fixed: deep `a ^ b ^ ...` nesting crashed the parser (RecursionError inside Lark's VisitError:
exit 3); numbers beyond float range (`1e400`, 400-digit integers) crashed `int(inf)` in dims, the checker and
infer settings, or were accepted as inf; the framed line was the wrong one after a form feed, `\\x85` or
`\\u2028` (errors.source_line used str.splitlines), and raw escape sequences reached the terminal; a lone-CR
file was one comment; a CSV with a lone CR inside a row or a cell over 128 KiB crashed (csv.Error: exit 3), and
rows after a quoted line break or a form feed were misnumbered; CSV/NPZ values beyond float32/int32 were
accepted and became inf or wrapped; an NPZ member that is not a .npy crashed (numpy returns bytes); a NUL in a
CSV had no frame, and some dimension errors named neither the data file nor a hint.

With the layers (2026-12-08, 2 cores shared): 2,000 networks of layers (14% accepted, compiled and traced, with
the traced shapes always the checker's), 2,000 grammar-generated models and 1,000 NPZ files of any rank in
about 7 minutes, no failures in bnnc. Mutants of the layer seeds found a module name longer than a file name may
be (a 400-digit `import std.priors111...`): Path.is_file raised OSError, exit 3 (fixed in check/imports.py;
corpus case name_module_name_too_long).
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from bnnlang.api import Model
from bnnlang.check.distributions import ACTIVATIONS
from bnnlang.check.nn import LAYERS, REQUIRED, Arg
from bnnlang.cli import main
from bnnlang.syntax.parser import MAX_SOURCE_BYTES, RESERVED, grammar_path, parse

REPO = Path(__file__).resolve().parent.parent
SEED_FILES = sorted((REPO / "examples").glob("*.bnn")) + sorted((REPO / "stdlib").glob("*.bnn"))
SEEDS = {p.name: p.read_bytes() for p in SEED_FILES}
# Models with the layers of check/nn/, seeds for the mutations and re-layouts as the examples are.
LAYER_SEEDS = {
    "seed_cnn_sequence.bnn": """import std.priors (neal)
data {
  x: real[N, 16, 3]
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
network cnn(x) -> real[N] {
  default weight ~ neal()
  conv1d(8, 3, relu)
  maxpool(2, stride = 2)
  conv1d(8, 3, tanh, stride = 2, dilation = 2, groups = 2, padding = valid)
  residual { conv1d(8, 3, relu) }
  avgpool(2, padding = same)
  flatten
  dense(1) { bias ~ Normal(0, 1) }
}
observe y ~ Normal(cnn(x), sigma)
""",
    "seed_cnn_image.bnn": """data {
  K = 10
  img: real[N, 8, 8, 1]
  y: int[N] in 0..K-1
}
network cnn(img) -> real[N, K] {
  conv2d(8, 3, relu)
  maxpool(2)
  conv2d(16, 3, relu, padding = valid)
  layernorm(affine = true)
  globalavgpool
  reshape(4, 4)
  flatten
  dense(K)
}
observe y ~ Categorical(logits = cnn(img))
infer svi(steps = 100)
""",
    "seed_tokens_transformer.bnn": """data {
  V = 50
  tokens: int[N, 12] in 0..V-1
  y: int[N] in 0..1
}
network lm(tokens) -> real[N] {
  embedding(V, 16) { weight ~ Normal(0, 1) }
  positions(sinusoidal)
  transformer(heads = 4, hidden = 32, causal = true)
  attention(2)
  layernorm
  globalavgpool
  dense(1)
}
observe y ~ Bernoulli(logits = lm(tokens))
""",
}
SEEDS.update({name: text.encode() for name, text in LAYER_SEEDS.items()})
TIME_LIMIT = 10.0  # seconds per in-process bnnc call; a typical fuzz input takes under 0.1 s
BIG_TIME_LIMIT = 60.0  # for the files of several MB


def fuzz_settings(examples: int) -> settings:
    """Reproducible runs: derandomized, no example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # capsys is emptied before every call
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


# ---------------------------------------------------------------- running bnnc in-process


class _TimedOut(BaseException):
    """Raised by SIGALRM; a BaseException, so bnnc's `except Exception` (exit 3) does not swallow it."""


@dataclass
class Result:
    argv: tuple[str, ...]
    rc: int
    out: str
    err: str


def bnnc(capsys: pytest.CaptureFixture[str], *argv: str, limit: float = TIME_LIMIT) -> Result:
    """`bnnc ARGV` in this process, stopped after `limit` seconds of wall clock."""
    capsys.readouterr()

    def on_alarm(signum, frame):
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        rc = main(list(argv))
    except _TimedOut:
        pytest.fail(f"bnnc {' '.join(argv)[:200]} ran past {limit} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return Result(tuple(argv), rc, out, err)


# ---------------------------------------------------------------- what every run must look like

STANZA = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+):(?P<col>\d+))?: (?P<kind>error|warning): (?P<message>.*)$")
FRAME = re.compile(r"^ *\d* \|")  # `  |`, `12 | source text`, `   | ^^^`
READ_ERRORS = ("not UTF-8", "NUL bytes")  # framed by the file reader, before line ends are normalized


def shown(line: str) -> str:
    """A source line as a diagnostic frames it: tabs as one space, unprintable characters as U+FFFD."""
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in line.expandtabs(1))


def model_lines(raw: bytes) -> list[str]:
    """A model's lines as bnnc numbers them: "\\n", "\\r\\n" and a lone "\\r" end a line, nothing else does."""
    text = raw.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def csv_lines(raw: bytes) -> list[str]:
    """A CSV's lines as the csv module reads them (universal line ends)."""
    text = raw.decode("utf-8-sig", errors="replace")
    return [ln.rstrip("\r\n") for ln in io.StringIO(text, newline="")]


def _stanzas(err: str) -> list[list[str]]:
    stanzas: list[list[str]] = []
    for line in err.rstrip("\n").split("\n") if err else []:
        if STANZA.match(line) and not FRAME.match(line):
            stanzas.append([line])
        else:
            assert stanzas, f"stderr does not start with a diagnostic:\n{err[:3000]}"
            stanzas[-1].append(line)
    return stanzas


def _check_stanza(stanza: list[str], files: dict[str, list[str] | None]) -> re.Match:
    __tracebackhide__ = True
    text = "\n".join(stanza)
    m = STANZA.match(stanza[0])
    assert m, text
    if m["path"] not in files:  # an imported module, say: any file that exists, read as bnnc reads it
        named = Path(m["path"])
        assert named.is_file(), f"the diagnostic names {m['path']!r}, which is not a file:\n{text[:3000]}"
        raw = named.read_bytes()
        files = {**files, m["path"]: csv_lines(raw) if named.suffix == ".csv" else model_lines(raw)}
    assert m["message"].strip(), text
    hints = [ln for ln in stanza if ln.startswith("hint: ")]
    if m["kind"] == "error":
        assert hints and stanza[-1] == hints[0] and hints[0][6:].strip(), f"an error ends with one hint:\n{text}"
    if m["line"] is None:  # a file-level message: `path: error: ...`, no frame
        assert len(stanza) == 1 + len(hints), f"a file-level message has no frame:\n{text}"
        return m
    line, col = int(m["line"]), int(m["col"])
    assert line >= 1 and col >= 1, text
    body = stanza[1 : len(stanza) - len(hints)]
    gutter = str(line)
    pad = " " * len(gutter)
    assert len(body) == 3, f"expected `{pad} |`, `{gutter} | <line>` and a caret line:\n{text[:3000]}"
    assert body[0] == f"{pad} |", text[:3000]
    assert body[1].startswith(f"{gutter} | ") or body[1] == f"{gutter} |", text[:3000]
    framed = body[1][len(gutter) + 3 :]
    lines = files[m["path"]]
    if lines is not None and not any(r in m["message"] for r in READ_ERRORS):
        want = shown(lines[line - 1]) if line <= len(lines) else ""
        assert framed == want, f"framed {framed[:200]!r}, but line {line} of {m['path']} is {want[:200]!r}"
    assert body[2].startswith(f"{pad} | "), text[:3000]
    caret = body[2][len(pad) + 3 :]
    marks = caret.lstrip(" ")
    assert marks and set(marks) == {"^"}, f"caret line {caret[:200]!r}"
    assert len(caret) - len(marks) == col - 1, f"the caret starts at {len(caret) - len(marks) + 1}, not {col}"
    assert len(caret) <= max(len(framed) + 1, col), "the caret runs past the end of the line"
    return m


def expect_clean(res: Result, files: dict[str, list[str] | None]) -> re.Match | None:
    """Exit 0 (warnings allowed) or exit 2 with exactly one well-formed error; return the error's header match."""
    __tracebackhide__ = True
    both = res.out + res.err
    what = f"bnnc {' '.join(res.argv)[:300]}"
    assert "Traceback" not in both, f"{what}: a traceback reached the user:\n{both[-3000:]}"
    assert "internal error" not in res.err, f"{what}: internal error (a bug):\n{res.err[-3000:]}"
    assert res.rc in (0, 2), f"{what}: exit {res.rc}:\n{res.err[-3000:]}"
    stanzas = _stanzas(res.err)
    matches = [_check_stanza(s, files) for s in stanzas]
    errors = [m for m in matches if m["kind"] == "error"]
    if res.rc == 0:
        assert not errors, f"{what}: exit 0 with an error:\n{res.err[:3000]}"
        return None
    assert res.out == "", f"{what}: stdout on an error:\n{res.out[:3000]}"
    assert len(errors) == 1 and matches[-1] is errors[0], f"{what}: expected one error, last:\n{res.err[:3000]}"
    return errors[0]


# ---------------------------------------------------------------- the model fuzzing property


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the generated models, holding the module that examples/fitted_prior.bnn imports."""
    ws = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(REPO / "examples" / "fitted", ws / "fitted")
    return ws


@pytest.fixture(autouse=True)
def _crash_logs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An exit-3 crash writes a log under XDG_CACHE_HOME; keep it out of the user's home.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def fuzz_model(raw: bytes, ws: Path, capsys: pytest.CaptureFixture[str], limit: float = TIME_LIMIT) -> Result:
    """Run check and fmt on `raw` and assert everything the module docstring promises; return check's result."""
    __tracebackhide__ = True
    path = ws / "model.bnn"
    path.write_bytes(raw)
    files = {str(path): model_lines(raw)}
    checked = bnnc(capsys, "check", str(path), limit=limit)
    expect_clean(checked, files)
    formatted = bnnc(capsys, "fmt", str(path), limit=limit)
    expect_clean(formatted, files)
    if checked.rc == 0:
        assert formatted.rc == 0, f"check accepts what fmt refuses:\n{formatted.err[:3000]}"
    if formatted.rc == 0:
        _fmt_properties(raw, formatted.out, ws, capsys, accepted=checked.rc == 0, limit=limit)
    return checked


def _fmt_properties(
    raw: bytes, out: str, ws: Path, capsys: pytest.CaptureFixture[str], accepted: bool, limit: float
) -> None:
    __tracebackhide__ = True
    before = parse(raw.decode("utf-8"))
    after = parse(out)
    assert after.items == before.items, "fmt changed the meaning (the trees differ)"
    assert [c.text.rstrip() for c in after.comments] == [c.text.rstrip() for c in before.comments]
    again_path = ws / "formatted.bnn"  # same folder: imports resolve as they did for the input
    again_path.write_text(out, encoding="utf-8")
    again = bnnc(capsys, "fmt", str(again_path), limit=limit)
    assert again.rc == 0 and again.out == out, "fmt(fmt(x)) != fmt(x)"
    if accepted:
        files = {str(again_path): model_lines(out.encode())}
        expect_clean(rechecked := bnnc(capsys, "check", str(again_path), limit=limit), files)
        assert rechecked.rc == 0, f"check refuses fmt's output of a model it accepts:\n{rechecked.err[:3000]}"
        compiled = bnnc(capsys, "compile", str(again_path), limit=limit)
        expect_clean(compiled, files)
        assert compiled.rc == 0, compiled.err[:3000]
        compile(compiled.out, "<generated>", "exec")  # the generated program is valid Python


# ---------------------------------------------------------------- model mutations

TOKEN = re.compile(rb"[A-Za-z][A-Za-z0-9_]*|(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?|\.\.|->|#[^\n]*|\s+|.", re.S)
VOCAB = tuple(w.encode() for w in RESERVED) + (
    *(c.encode() for c in "{}()[],~=;:-+*/^#.\"'\\"),
    *(b"..", b"->", b"dense", b"residual", b"Normal", b"HalfNormal", b"Categorical", b"Bernoulli", b"GP", b"RBF"),
    *(b"neal", b"tanh", b"relu", b"N", b"K", b"x", b"y", b"sigma", b"fan_in", b"weight", b"bias", b"nuts", b"svi"),
    *(b"chains", b"0", b"1", b"0.5", b"-1", b"1e-3", b"1e400", b"99999999999999999999", b"1" * 400),
    *(b"conv1d", b"conv2d", b"maxpool", b"avgpool", b"globalavgpool", b"flatten", b"reshape", b"embedding"),
    *(b"positions", b"layernorm", b"attention", b"transformer", b"batchnorm", b"sinusoidal", b"learned"),
    *(b"stride", b"padding", b"dilation", b"groups", b"heads", b"hidden", b"causal", b"affine", b"same"),
    *(b"valid", b"true", b"false", b"V", b"T", b"int", b"real", b"in", b"0..V-1", b"[N, 8, 8, 1]", b"[N, T]"),
    *(b"\n", b" ", b"\t", b"\r", b"\r\n", b"\x0c", b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x1b[2J"),
    *("σ".encode(), "\u2028".encode(), "\ufeff".encode(), "\u00a0".encode(), "x\u0301".encode()),
)
SNIPPETS = (
    b"(" * 300,
    b")" * 300,
    b"(" * 150 + b"1" + b")" * 150,
    b"-" * 3000 + b"1",
    b"2 ^ " * 1500 + b"1",
    b"1 + " * 1500 + b"1",
    b"x" + b"[0]" * 400,
    b"dense(2) { " * 60 + b"}" * 60,
    b"residual { " * 60 + b"dense(1)" + b"}" * 60,
    b"v" * 100_000,
    b"9" * 5_000,
    b"0." + b"0" * 5_000 + b"1",
    b"# " + b"x" * 10_000 + b"\n",
    b"\n" * 10_000,
    b" " * 10_000,
    b"param p ~ Normal(0, 1)\n" * 200,
)
TOKEN_OPS = ("drop_token", "dup_token", "swap_tokens", "replace_token", "insert_token")
LINE_OPS = ("drop_line", "dup_line", "swap_lines")
BYTE_OPS = ("truncate", "insert_bytes", "overwrite_bytes")
Op = tuple[str, int, int, bytes]


def apply_op(data: bytes, op: Op) -> bytes:
    """One mutation; positions are taken modulo the current length, so any integers are valid."""
    kind, i, j, payload = op
    if kind in TOKEN_OPS:
        toks = TOKEN.findall(data)
        if not toks:
            return data + payload
        i, j = i % len(toks), j % len(toks)
        if kind == "drop_token":
            del toks[i]
        elif kind == "dup_token":
            toks.insert(i, toks[i])
        elif kind == "swap_tokens":
            toks[i], toks[j] = toks[j], toks[i]
        elif kind == "replace_token":
            toks[i] = payload
        else:
            toks.insert(i, payload)
        return b"".join(toks)
    if kind in LINE_OPS:
        lines = data.split(b"\n")
        i, j = i % len(lines), j % len(lines)
        if kind == "drop_line":
            del lines[i]
        elif kind == "dup_line":
            lines.insert(i, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    k = i % (len(data) + 1)
    if kind == "truncate":
        return data[:k]
    if kind == "insert_bytes":
        return data[:k] + payload + data[k:]
    return data[:k] + payload + data[k + len(payload) :]  # overwrite_bytes


payloads = st.one_of(
    st.sampled_from(VOCAB),
    st.sampled_from(SNIPPETS),
    st.binary(min_size=1, max_size=8),
    st.text(min_size=1, max_size=8).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
ops = st.tuples(
    st.sampled_from(TOKEN_OPS + LINE_OPS + BYTE_OPS), st.integers(0, 1 << 16), st.integers(0, 1 << 16), payloads
)


@st.composite
def mutated_models(draw: st.DrawFn) -> bytes:
    data = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    for op in draw(st.lists(ops, min_size=1, max_size=6)):
        data = apply_op(data, op)
    return data


def random_mutant(rnd: random.Random) -> bytes:
    """A mutated seed from a plain Random, for the loops that do not go through hypothesis."""
    data = SEEDS[rnd.choice(sorted(SEEDS))]
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.choice(TOKEN_OPS + LINE_OPS + BYTE_OPS)
        payload = rnd.choice(VOCAB) if rnd.random() < 0.9 else rnd.choice(SNIPPETS[:9])
        data = apply_op(data, (kind, rnd.randrange(1 << 16), rnd.randrange(1 << 16), payload))
    return data


def _mutants(workspace: Path, capsys: pytest.CaptureFixture[str], raw: bytes) -> None:
    event(f"check exit {fuzz_model(raw, workspace, capsys).rc}")  # `--hypothesis-show-statistics` shows the mix


@fuzz_settings(300)
@given(raw=mutated_models())
def test_mutated_models(raw: bytes, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _mutants(workspace, capsys, raw)


@pytest.mark.slow
@fuzz_settings(6000)
@given(raw=mutated_models())
def test_mutated_models_long(raw: bytes, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _mutants(workspace, capsys, raw)


# ---------------------------------------------------------------- models generated from the grammar

_KNOWN_NAMES = (
    "x y z N K D G mlp net f g sigma tau mu a b w Normal HalfNormal HalfCauchy Categorical Bernoulli Poisson "
    "StudentT Laplace Uniform LogNormal Gamma GP RBF Matern32 dense residual tanh relu neal horseshoe nuts svi "
    "sghmc mile chains warmup samples std priors weight bias logits log_rate fan_in fan_out sqrt exp inducing "
    "conv1d conv2d maxpool avgpool globalavgpool flatten reshape embedding positions layernorm attention "
    "transformer batchnorm sinusoidal learned stride padding dilation groups heads hidden causal affine same "
    "valid true false V T scale img tokens"
).split()
_LARK = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual")
grammar_models = from_lark(
    _LARK,
    explicit={
        "NAME": st.one_of(
            st.sampled_from(_KNOWN_NAMES),
            st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,7}", fullmatch=True).filter(lambda s: s not in RESERVED),
        ),
        "NUMBER": st.one_of(
            st.sampled_from(["0", "1", "2", "3", "0.5", "1e-3", "10", "1e400"]),
            st.from_regex(r"(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?", fullmatch=True),
        ),
        "COMMENT": st.from_regex(r"#[^\n]*", fullmatch=True).map(lambda s: s + "\n"),
    },
).map(lambda s: s.encode("utf-8", "surrogatepass"))


@fuzz_settings(120)
@given(raw=grammar_models)
def test_grammar_generated_models(raw: bytes, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event(f"check exit {fuzz_model(raw, workspace, capsys).rc}")


@pytest.mark.slow
@fuzz_settings(2000)
@given(raw=grammar_models)
def test_grammar_generated_models_long(raw: bytes, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event(f"check exit {fuzz_model(raw, workspace, capsys).rc}")


# ---------------------------------------------------------------- networks of random layers (check/nn/)

# The layer table itself says which kinds and arguments exist, so a kind added to it is fuzzed too. Four layers in
# five are drawn from the kinds that take the rank of what reaches them (FITS), so that a good share of the
# networks are accepted and get compiled and traced; the rest from any kind.
LAYER_KINDS = sorted(LAYERS)
_ANY_RANK = ("dense", "layernorm", "flatten", "reshape", *ACTIVATIONS)
FITS = {
    1: _ANY_RANK,
    2: (*_ANY_RANK, "conv1d", "maxpool", "avgpool", "globalavgpool", "positions", "attention", "transformer"),
    3: (*_ANY_RANK, "conv2d", "maxpool", "avgpool", "globalavgpool"),
}
COUNT_VALUES = ("1", "2", "3", "4", "1", "2", "8", "16")
SIZE_VALUES = COUNT_VALUES + ("V", "T")
BAD_VALUES = ("0", "1.5", "-1", "1e400", "99999999999999999999", "K", "N", "relu", "full", "yes", "x", "(2)", "2 + 1")


def _arg_value(draw: st.DrawFn, arg: Arg) -> str:
    """A value of the argument's kind, or about one time in twelve a value of another kind or out of range."""
    if draw(st.integers(0, 11)) == 0:
        return draw(st.sampled_from(BAD_VALUES))
    if arg.kind in ("count", "counts"):
        return draw(st.sampled_from(COUNT_VALUES))
    if arg.kind == "size":
        return draw(st.sampled_from(SIZE_VALUES))
    if arg.kind == "activation":
        return draw(st.sampled_from(tuple(ACTIVATIONS)))
    return draw(st.sampled_from(("true", "false") if arg.kind == "flag" else arg.choices))


def _next_rank(kind: str, rank: int, positional: list[str]) -> int:
    if kind in ("flatten", "globalavgpool"):
        return 1
    if kind == "reshape":
        return max(len(positional), 1)
    return rank + (kind in ("embedding", "onehot"))


@st.composite
def layer_text(draw: st.DrawFn, rank: int, depth: int = 0, other: str | None = None) -> tuple[str, int]:
    """One layer with random arguments (positional, keyword, missing, unknown or one too many), sometimes a body
    of priors, or a block of such layers (`concat(other)` joins the network's second input); and the rank of what
    it gives, if it is accepted."""
    if draw(st.integers(0, 9)) == 9 and depth < 2:
        body, inner = [], rank
        for _ in range(draw(st.integers(0, 3)) or int(draw(st.integers(0, 9)) > 0)):
            text, inner = draw(layer_text(inner, depth + 1, other))
            body.append(text)
        block = draw(st.sampled_from(["residual", "residual", "deterministic", "concat"]))
        if block == "concat" and other is not None and draw(st.booleans()):
            join = draw(st.sampled_from(["", "{ onehot }", "{ embedding(4, 2) }", "{ dense(2, tanh) }", "{ flatten }"]))
            return f"concat({other}) {join}".rstrip(), rank
        return f"{block} {{ {' '.join(body)} }}", rank if block != "deterministic" else inner
    fits = [k for k in FITS.get(rank, ()) if k in LAYERS]
    name = draw(st.sampled_from(fits if fits and draw(st.integers(0, 4)) else LAYER_KINDS))
    kind = LAYERS[name]
    args = list(kind.args)
    positional: list[str] = []
    keyword: list[str] = []
    if args and args[0].kind == "counts":
        positional = [
            _arg_value(draw, args[0]) for _ in range(draw(st.integers(1, 3)) - int(draw(st.integers(0, 19)) == 0))
        ]
    else:
        cut = draw(st.integers(0, len(args)))
        positional = [_arg_value(draw, a) for a in args[:cut]]
        for a in args[cut:]:
            if a.default is REQUIRED or draw(st.booleans()):
                keyword.append(f"{a.name} = {_arg_value(draw, a)}")
        if draw(st.integers(0, 19)) == 0:
            keyword.reverse()
    if draw(st.integers(0, 24)) == 0:
        keyword.append(draw(st.sampled_from(["strides = 2", "units = 3", "kernel_size = 3", "window = 2"])))
    if draw(st.integers(0, 24)) == 0:
        positional.append("2")
    parts = positional + keyword
    text = name + (f"({', '.join(parts)})" if parts or draw(st.integers(0, 19)) == 0 else "")
    if draw(st.integers(0, 4 if kind.takes_priors else 29)) == 0:
        role = draw(st.sampled_from(["weight", "bias", "scale", "weight", "gain"]))
        text += f" {{ {role} ~ Normal(0, {draw(st.sampled_from(['1', '0.5', '1 / sqrt(fan_in)', '-1']))}) }}"
    return text, _next_rank(name, rank, positional)


LAYER_INPUTS = (
    # data declarations of the network's input x, and its rank without the rows
    ("x: real[N, {a}]", 1),
    ("x: real[N, {a}, {b}]", 2),
    ("x: real[N, {a}, {b}, {c}]", 3),
    ("x: real[N, T, {b}]", 2),
    ("x: int[N, {a}] in 0..{v}", 1),
    ("x: int[N, {a}] in 0..V-1", 1),
    ("x: int[N] in 0..V-1", 0),
    ("x: int[N, {a}]", 1),
    ("x: int[N, T] in 0..V-1", 1),
    ("x: real[N, {a}, {b}, {c}, {b}]", 4),
)
OTHER_INPUTS = ("z: real[N, {b}]", "z: int[N] in 0..3", "z: real[N, {a}, {b}]", "z: int[N, {a}] in 0..4")
LAYER_ENDINGS = ("", "dense(1)", "flatten dense(1)", "globalavgpool dense(1)", "globalavgpool flatten dense(1)")


@st.composite
def layer_models(draw: st.DrawFn) -> str:
    sizes = {k: draw(st.integers(1, 9)) for k in "abc"}
    sizes["v"] = draw(st.integers(0, 20))
    template, rank = draw(st.sampled_from(LAYER_INPUTS))
    decl = template.format(**sizes)
    consts = f"  V = {draw(st.integers(1, 30))}\n" if "V" in decl else ""
    if "T" in decl and draw(st.booleans()):
        consts += f"  T = {draw(st.integers(1, 12))}\n"
    layers = []
    if "int" in decl and draw(st.integers(0, 4)):  # token ids mostly enter through an embedding of their range
        vocab = "V" if "V" in decl else str(sizes["v"] + 1)
        layers.append(f"embedding({vocab}, {draw(st.sampled_from(['2', '4', '6']))})")
        rank += 1
    other = draw(st.sampled_from([None, None, None, *OTHER_INPUTS]))  # a second input, one time in four
    if other is not None:
        other = other.format(**sizes)
    for _ in range(draw(st.integers(1, 4))):
        text, rank = draw(layer_text(rank, other="z" if other else None))
        layers.append(text)
    if other is not None and draw(st.integers(0, 2)):  # join the second input, in a form that fits it mostly
        joins = {
            "z: real[N, {b}]": ["", "{ dense(2, tanh) }"],
            "z: int[N] in 0..3": ["{ onehot }", "{ embedding(4, 2) }"],
            "z: real[N, {a}, {b}]": ["{ flatten }", "{ globalavgpool }", ""],
            "z: int[N, {a}] in 0..4": ["{ onehot flatten }", "{ embedding(5, 3) globalavgpool }"],
        }[next(t for t in OTHER_INPUTS if t.format(**sizes) == other)]
        join = f"concat(z) {draw(st.sampled_from(joins))}".rstrip()
        if draw(st.integers(0, 3)):  # onto a vector: what the joins above give
            layers += ([] if rank == 1 else ["flatten"]) + [join]
            rank = 1
        else:
            layers.insert(draw(st.integers(0, len(layers))), join)
    # an ending that fits the rank reached, mostly
    fitting = ("dense(1)", "") if rank <= 1 else ("globalavgpool dense(1)", "flatten dense(1)")
    ending = draw(st.sampled_from(fitting if draw(st.integers(0, 3)) else LAYER_ENDINGS))
    call = "net(x, z)" if other else "net(x)"
    out, obs = draw(st.sampled_from([("real[N]", call), ("real[N, 2]", f"{call}[:, 0]")]))
    layers.append(ending.replace("dense(1)", "dense(2)") if out == "real[N, 2]" else ending)
    if draw(st.integers(0, 4)) == 0:
        layers.insert(0, f"default weight ~ Normal(0, {draw(st.sampled_from(['1', '1 / sqrt(fan_in)', 'fan_out']))})")
    body = "\n".join(f"  {line}" for line in layers if line)
    return (
        f"data {{\n{consts}  {decl}\n" + (f"  {other}\n" if other else "") + "  y: real[N]\n}\n"
        f"network {call} -> {out} {{\n{body}\n}}\n"
        f"observe y ~ Normal({obs}, 1)\n"
    )


def _shapes_agree_with_jax(text: str, path: Path) -> bool:
    """For an accepted model: the compiled network maps an input of the declared shape to the output shape the
    checker derived (jax.eval_shape: traced, not run). False where a size stays symbolic."""
    import jax

    model = Model.from_source(text, str(path))
    net = model.checked.networks["net"]
    inputs = [model.checked.data[name] for name in net.node.inputs]
    shapes = [(5, *var.shape[1:]) for var in inputs]
    params = {f"{layer.path}.{site.name}": site.shape for _, layer, site in net.layer_sites()}
    if not all(isinstance(n, int) for n in sum(shapes, ()) + net.out_shape + sum(params.values(), ())):
        return False
    got = jax.eval_shape(
        model.module.net,
        {k: jax.ShapeDtypeStruct(v, np.float32) for k, v in params.items()},
        *(jax.ShapeDtypeStruct(s, np.int32 if v.base == "int" else np.float32) for s, v in zip(shapes, inputs)),
    )
    want = (5,) if net.squeeze else (5, *net.out_shape)
    assert got.shape == want, f"the checker says {want}, JAX computes {got.shape}:\n{text}"
    return True


def _layer_model(workspace: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    checked = fuzz_model(text.encode(), workspace, capsys)
    traced = checked.rc == 0 and _shapes_agree_with_jax(text, workspace / "model.bnn")
    event(f"check exit {checked.rc}" + (", shapes traced" if traced else ""))


@fuzz_settings(120)
@given(text=layer_models())
def test_layer_models(text: str, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _layer_model(workspace, capsys, text)


@pytest.mark.slow
@fuzz_settings(2000)
@given(text=layer_models())
def test_layer_models_long(text: str, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _layer_model(workspace, capsys, text)


# ---------------------------------------------------------------- layout never changes the meaning


@st.composite
def relaid_seeds(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed with spaces and tabs between tokens, and "\\r\\n" or "\\r" line ends."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    toks = TOKEN.findall(SEEDS[name])
    inserts = draw(st.lists(st.tuples(st.integers(0, 1 << 16), st.sampled_from([b" ", b"\t", b" \t  "])), max_size=40))
    for pos, ws in sorted(inserts, reverse=True):
        k = pos % (len(toks) + 1)
        toks.insert(k, ws)
    ending = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    return name, b"".join(toks).replace(b"\n", ending)


def _relaid(workspace: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, bytes]) -> None:
    name, raw = case
    assert fuzz_model(raw, workspace, capsys).rc == 0, f"{name} with spaces and other line ends is refused"
    out = (workspace / "formatted.bnn").read_text(encoding="utf-8")  # fmt's output, written by fuzz_model
    (workspace / "model.bnn").write_bytes(SEEDS[name])
    assert out == bnnc(capsys, "fmt", str(workspace / "model.bnn")).out, "layout changed fmt's output"


@fuzz_settings(60)
@given(case=relaid_seeds())
def test_layout_does_not_change_meaning(
    case: tuple[str, bytes], workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _relaid(workspace, capsys, case)


@pytest.mark.slow
@fuzz_settings(2000)
@given(case=relaid_seeds())
def test_layout_does_not_change_meaning_long(
    case: tuple[str, bytes], workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _relaid(workspace, capsys, case)


# ---------------------------------------------------------------- extreme inputs, one by one

REG = SEEDS["regression_1d.bnn"].decode()
OBS = "data { y: real[N] }\n"


def _nested_bodies(depth: int) -> str:
    return REG.replace("dense(1)\n", "dense(1)" + " dense(2) {" * depth + "}" * depth + "\n")


STRESS: dict[str, tuple[Callable[[], str | bytes], int | None]] = {
    # name: (input, the exit code check must give, or None where 0 and 2 are both right)
    "parens_5000": (lambda: OBS + "observe y ~ Normal(" + "(" * 5000 + "1" + ")" * 5000 + ", 1)", 2),
    "parens_190": (lambda: OBS + "observe y ~ Normal(" + "(" * 190 + "1" + ")" * 190 + ", 1)", 0),
    "calls_3000": (lambda: OBS + "observe y ~ Normal(" + "exp(" * 3000 + "1" + ")" * 3000 + ", 1)", 2),
    "power_5000": (lambda: OBS + "observe y ~ Normal(" + "2 ^ " * 5000 + "1, 1)", 2),
    "negation_20000": (lambda: OBS + "observe y ~ Normal(" + "-" * 20000 + "1, 1)", 2),
    "sum_20000": (lambda: OBS + "observe y ~ Normal(" + "1 + " * 20000 + "1, 1)", None),
    "index_3000": (lambda: OBS + "param a ~ Normal(0, 1)\nobserve y ~ Normal(a" + "[0]" * 3000 + ", 1)", 2),
    "layer_bodies_190": (lambda: _nested_bodies(190), 2),  # a dense body holds priors; fmt still formats it
    "layer_bodies_5000": (lambda: _nested_bodies(5000), 2),
    "residual_190": (
        lambda: REG.replace("dense(1)\n", "residual {" * 190 + "dense(20)" + "}" * 190 + " dense(1)\n"),
        0,
    ),
    "braces_100000": (lambda: "{" * 100_000, 2),
    "closers_100000": (lambda: ")" * 100_000, 2),
    "identifier_1MB": (lambda: REG.replace("sigma", "s" * 1_000_000), 0),
    "unknown_identifier_1MB": (lambda: REG.replace("sigma)", "s" * 1_000_000 + ")"), 2),
    "digits_100000": (lambda: REG.replace("0.5", "1" * 100_000), 2),
    "decimal_100000": (lambda: REG.replace("0.5", "0." + "0" * 100_000 + "5"), 2),  # == 0: scale must be > 0
    "exponent_huge": (lambda: REG.replace("0.5", "1e99999999999999999999"), 2),
    "comments_6MB": (lambda: REG + ("# " + "x" * 98 + "\n") * 60_000, 0),
    "spaces_6MB": (lambda: REG.replace("\n", " " * 200_000 + "\n"), 0),
    "blank_lines_4M": (lambda: "\n" * 4_000_000 + REG, 0),
    "statements_140kB": (lambda: OBS + "param p ~ Normal(0, 1)\n" * 5000 + "observe y ~ Normal(p, 1)\n", 2),
    "over_size_limit": (lambda: REG + "#" * (MAX_SOURCE_BYTES + 1), 2),
    "non_utf8_at_4MB": (lambda: (REG + "#" + "x" * 4_000_000 + "\n").encode() + b"\xff", 2),
    "nul_after_form_feeds": (lambda: "\x0c\n" * 3 + REG + "\x00", 2),
    "escape_codes": (
        lambda: REG.replace("sigma)", "sigma) # \x1b[2J\x1b[31m red").replace("Normal(mlp", "Normal(mlq"),
        2,
    ),
}


@pytest.mark.parametrize("name", list(STRESS))
def test_extreme_input(name: str, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, want = STRESS[name]
    text = make()
    raw = text if isinstance(text, bytes) else text.encode()
    checked = fuzz_model(raw, workspace, capsys, limit=BIG_TIME_LIMIT)
    if want is not None:
        assert checked.rc == want, checked.err[:2000]


@pytest.mark.slow
def test_several_mb_of_statements(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """3 MB of real statements (Lark reads about 150 kB/s): slow, but linear, bounded and clean."""
    body = "".join(f"param p{i} ~ Normal(0, 1)\n" for i in range(110_000))
    raw = (OBS + body + "observe y ~ Normal(p0, 1)\n").encode()
    assert len(raw) > 3_000_000
    assert fuzz_model(raw, workspace, capsys, limit=600).rc == 0


# ---------------------------------------------------------------- bounded memory and open files


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_memory_and_open_files_stay_bounded(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Memory still held after many runs must not grow with their number: no cache or global keeps inputs."""
    rnd = random.Random(1)
    model = workspace / "leak.bnn"
    csv_path, npz_path = workspace / "leak.csv", workspace / "leak.npz"
    base_csv = (REPO / "examples" / "data" / "regression_1d.csv").read_bytes()
    regression = REPO / "examples" / "regression_1d.bnn"

    def batch(n: int) -> None:
        for _ in range(n):
            model.write_bytes(random_mutant(rnd))
            for cmd in ("check", "fmt"):
                expect_clean(bnnc(capsys, cmd, str(model)), {str(model): model_lines(model.read_bytes())})
            k = rnd.randrange(len(base_csv))
            csv_path.write_bytes(base_csv[:k] + rnd.choice([b"x", b",", b"\n", b"nan", b"\xff", b""]) + base_csv[k:])
            expect_clean(bnnc(capsys, "check", str(regression), "--data", str(csv_path)), _data_files(csv_path))
            buf = io.BytesIO()
            np.savez(buf, x=np.zeros((5, 1)), y=np.full(5, rnd.choice([0.0, np.nan])))
            npz_path.write_bytes(buf.getvalue()[: rnd.choice([None, 100])])
            expect_clean(bnnc(capsys, "check", str(regression), "--data", str(npz_path)), _data_files(npz_path))

    def held() -> int:
        """Bytes still allocated, leaving out argparse: `main` builds its parser per call, and the strings it
        interns linger for a while (sublinear, a few kB per hundred calls)."""
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, argparse.__file__)])
        return sum(stat.size for stat in snapshot.statistics("filename"))

    batch(10)  # warm up: imports, the parser, numpy
    gc.collect()
    files = _open_files()
    tracemalloc.start()
    try:
        batch(10)
        first = held()
        batch(40)
        second = held()
    finally:
        tracemalloc.stop()
    # Keeping each input's source (2-3 kB) or its tree would add 100 kB or more.
    assert second - first < 32 * 1024, f"memory held grew by {(second - first) / 1024:.0f} KiB over 40 more inputs"
    assert _open_files() <= files, "open file descriptors leak"


# ---------------------------------------------------------------- end to end: nothing but the message reaches stderr

SUBPROCESS_CASES = {
    "power_nesting.bnn": (OBS + "observe y ~ Normal(" + "2 ^ " * 3000 + "1, 1)").encode(),
    "huge_number.bnn": REG.replace("0.5", "1e400").encode(),
    "non_utf8.bnn": SEEDS["regression_1d.bnn"].replace(b"sigma ~", b"sigma\xe9 ~"),
    "escape_in_comment.bnn": REG.replace("sigma)", "sigma) # \x1b[2J").replace("Normal(mlp", "Normal(mlq").encode(),
    "lone_cr.bnn": SEEDS["regression_1d.bnn"].replace(b"\n", b"\r").replace(b"Normal(mlp", b"Normal(mlq"),
}


@pytest.mark.parametrize("name", list(SUBPROCESS_CASES))
def test_subprocess_prints_only_the_message(name: str, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace / name
    path.write_bytes(SUBPROCESS_CASES[name])
    for cmd in ("check", "fmt"):  # check refuses each; fmt reads only the syntax, so it may accept
        proc = subprocess.run(
            [sys.executable, "-m", "bnnlang.cli", cmd, str(path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "XDG_CACHE_HOME": str(workspace / "cache")},
            timeout=120,
        )
        res = Result((cmd, str(path)), proc.returncode, proc.stdout, proc.stderr)
        refused = expect_clean(res, {str(path): model_lines(path.read_bytes())}) is not None
        assert refused or cmd == "fmt", f"check accepted {name}"
        inside = bnnc(capsys, cmd, str(path))
        assert (proc.returncode, proc.stdout, proc.stderr) == (inside.rc, inside.out, inside.err), (
            "terminal != in-process"
        )


# ================================================================ data fuzzing


@dataclass(frozen=True)
class DataModel:
    """An example model and what its data must satisfy."""

    name: str
    width: int  # columns of x
    labels: tuple[int, int | None] | None  # inclusive range of the int label y; None: y is real

    @property
    def model(self) -> Path:
        return REPO / "examples" / f"{self.name}.bnn"

    @property
    def base(self) -> list[list[str]]:
        """The example's data rows, as written."""
        return [
            ln.split(",") for ln in (REPO / "examples" / "data" / f"{self.name}.csv").read_text().split("\n")[1:] if ln
        ]


DATA_MODELS = [
    DataModel("regression_1d", 1, None),
    DataModel("classification_multiclass", 2, (0, 2)),
    DataModel("classification_binary", 2, (0, 1)),
    DataModel("poisson_counts", 1, (0, None)),
]
BASES = {m.name: m.base for m in DATA_MODELS}
BAD_CELLS = (
    *("nan", "NaN", "-nan", "inf", "-inf", "Infinity", "NA", "null", "None", "1e400", "-1e400", "1e39", "-3.5e38"),
    *("0x1A", "1_0", "1,5", "--1", "1.2.3", "1e", "e5", ".", "+", "-", "1 2", "\u2212" + "1", "1\n2", "\x1b[2J"),
)
BAD_INT_LABELS = ("0.5", "1.5", "2147483648", "-2147483649", "1e12")


def _data_files(data: Path) -> dict[str, list[str] | None]:
    raw = data.read_bytes() if data.exists() else b""
    files: dict[str, list[str] | None] = {str(data): csv_lines(raw) if data.suffix == ".csv" else None}
    for m in DATA_MODELS:
        files[str(m.model)] = model_lines(m.model.read_bytes())
    return files


def expect_data_outcome(res: Result, data: Path, valid: bool, rows: int | None) -> None:
    """Exit 0 with the right row count exactly for valid data, else one clean error naming the data file."""
    __tracebackhide__ = True
    header = expect_clean(res, _data_files(data))
    if valid:
        assert res.rc == 0, f"valid data refused:\n{res.err[:3000]}"
        assert f"N = {rows}" in res.out, f"expected N = {rows}: {res.out[:500]}"
    else:
        assert res.rc == 2, f"invalid data accepted: {res.out[:500]}"
        assert header is not None
        stanza = res.err[res.err.index(header.group(0)) :]
        assert str(data) in stanza, f"the error does not name the data file {data}:\n{stanza[:3000]}"


@dataclass
class CsvCase:
    model: DataModel
    raw: bytes
    valid: bool
    rows: int
    why: list[str]


def _num(draw: st.DrawFn, cell: str, is_int: bool) -> str:
    """The same value, written another valid way."""
    v = float(cell)
    if is_int:
        return draw(st.sampled_from([str(int(v)), f"{int(v)}.0", f"+{int(v)}", f"{int(v)}e0", f" {int(v)} "]))
    return draw(st.sampled_from([cell, repr(v), f"{v:.6e}", f"{v:+.3f}", f" {cell}\t", f"{v:.0f}"]))


@st.composite
def csv_cases(draw: st.DrawFn) -> CsvCase:
    model = draw(st.sampled_from(DATA_MODELS))
    base = BASES[model.name]
    start = draw(st.integers(0, len(base) - 1))
    rows = [list(r) for r in base[start : start + draw(st.integers(1, 12))]]
    is_int = model.labels is not None
    header = ["x"] if model.width == 1 and draw(st.booleans()) else [f"x.{i}" for i in range(model.width)]
    header.append("y")
    rows = [
        [_num(draw, c, is_int and j == len(r) - 1) if draw(st.booleans()) else c for j, c in enumerate(r)] for r in rows
    ]
    if draw(st.booleans()):  # an extra column nobody reads, anywhere
        at = draw(st.integers(0, len(header)))
        header.insert(at, "note")
        for r in rows:
            r.insert(at, draw(st.text(string.ascii_letters + " ", max_size=5)))
    if draw(st.booleans()):  # any column order
        order = draw(st.permutations(range(len(header))))
        header = [header[i] for i in order]
        rows = [[r[i] for i in order] for r in rows]
    needed = [j for j, h in enumerate(header) if h != "note"]
    y_col = header.index("y")
    why: list[str] = []
    used_rows: set[int] = set()
    quoted: set[tuple[int, int]] = set()

    def a_row(last: bool = False) -> int | None:
        r = len(rows) - 1 if last else draw(st.integers(0, len(rows) - 1))
        if r in used_rows:
            return None
        used_rows.add(r)
        return r

    table_corruptions = ["blank", "bad_cell", "ragged_more", "ragged_less", "rename", "drop", "duplicate", "unclosed"]
    if is_int:
        table_corruptions.append("bad_label")
    column_done = False  # one column corruption at most: a renamed duplicate is no longer a duplicate
    for kind in draw(st.lists(st.sampled_from(table_corruptions), max_size=2)):
        if kind in ("rename", "drop", "duplicate"):
            if column_done:
                continue
            column_done = True
        if kind in ("blank", "bad_cell", "bad_label", "ragged_more", "ragged_less", "unclosed"):
            r = a_row(last=kind == "unclosed")  # a later quote would close it: two unclosed quotes can pair up
            if r is None:
                continue
            if kind == "blank":
                rows[r][draw(st.sampled_from(needed))] = draw(st.sampled_from(["", " ", "\t"]))
            elif kind == "bad_cell":
                bad = draw(st.one_of(st.sampled_from(BAD_CELLS), st.text(string.ascii_letters, min_size=1, max_size=6)))
                c = draw(st.sampled_from(needed))
                rows[r][c] = bad
                quoted.add((r, c))  # "1,5" and "1\n2" stay one cell
            elif kind == "bad_label":
                lo, hi = model.labels or (0, None)
                outside = [str(lo - 1), str(lo - 7)] + ([str(hi + 1), str(hi + 5)] if hi is not None else [])
                rows[r][y_col] = draw(st.sampled_from(outside + list(BAD_INT_LABELS)))
            elif kind == "ragged_more":
                rows[r].append("1")
            elif kind == "ragged_less":
                rows[r].pop()
            else:
                rows[r][0] = '"' + rows[r][0].strip()  # an unclosed quote makes the row one cell
                quoted.add((r, -1))
        elif kind == "rename":
            c = draw(st.sampled_from(needed))
            header[c] = "q_" + header[c]
        elif kind == "drop":
            c = draw(st.sampled_from(needed))
            del header[c]
            for r in rows:
                if c < len(r):  # a ragged row stays ragged
                    del r[c]
            needed = []  # column indices moved: no more column corruptions
        elif kind == "duplicate" and needed:
            c = draw(st.integers(0, len(header) - 1))
            header.append(header[c])
            for r in rows:
                r.append(r[c] if c < len(r) else "1")
        else:
            continue
        why.append(kind)
        if not needed:
            break

    # render, with any valid layout
    quote_all = draw(st.booleans())
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))

    def cell(r: int, c: int, text: str) -> str:
        if (r, -1) in quoted:
            return text
        if (r, c) in quoted or (quote_all and '"' not in text):
            return '"' + text.replace('"', '""') + '"'
        return text

    lines = [",".join(header)]
    for r, row in enumerate(rows):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", " ", ",,"])))  # blank rows are skipped
        lines.append(",".join(cell(r, c, v) for c, v in enumerate(row)))
    text = end.join(lines) + (end if draw(st.booleans()) else "")
    raw = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()

    for kind in draw(st.lists(st.sampled_from(["non_utf8", "nul", "empty", "header_only"]), max_size=1)):
        if kind == "non_utf8":
            k = draw(st.integers(0, len(raw)))
            raw = (
                raw[:k]
                + draw(st.sampled_from([b"\xff", b"\xfe", b"\xc3(", b"\xe9 ", b"\xed\xa0\x80", b"\x80"]))
                + raw[k:]
            )
        elif kind == "nul":
            k = draw(st.integers(0, len(raw)))
            raw = raw[:k] + b"\x00" + raw[k:]
        elif kind == "empty":
            raw = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b" \n\n", b"\r\n"]))
        else:
            raw = (",".join(header) + end).encode()
        why.append(kind)
    return CsvCase(model, raw, not why, len(rows), why)


def _csv(workspace: Path, capsys: pytest.CaptureFixture[str], case: CsvCase) -> None:
    data = workspace / "data.csv"
    data.write_bytes(case.raw)
    res = bnnc(capsys, "check", str(case.model.model), "--data", str(data))
    expect_data_outcome(res, data, case.valid, case.rows)
    event("valid" if case.valid else "invalid: " + ", ".join(sorted(case.why)))


@fuzz_settings(250)
@given(case=csv_cases())
def test_csv_corruptions(case: CsvCase, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _csv(workspace, capsys, case)


@pytest.mark.slow
@fuzz_settings(2500)
@given(case=csv_cases())
def test_csv_corruptions_long(case: CsvCase, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _csv(workspace, capsys, case)


@dataclass
class NpzCase:
    model: DataModel
    raw: bytes
    valid: bool
    rows: int
    why: list[str]


NPZ_CORRUPTIONS = (
    *("nan", "inf", "too_large", "str_dtype", "object_dtype", "complex_dtype", "datetime_dtype"),
    *("x_rank_1", "x_rank_3", "y_rank_2", "rows_disagree", "wrong_width", "missing", "zero_rows"),
    *("truncate", "not_npy", "not_zip"),
)


FORCED_KEY = {
    "x_rank_1": "x",
    "x_rank_3": "x",
    "wrong_width": "x",
    "y_rank_2": "y",
    "bad_label": "y",
    "non_integer": "y",
}


@st.composite
def npz_cases(draw: st.DrawFn) -> NpzCase:
    model = draw(st.sampled_from(DATA_MODELS))
    base = BASES[model.name]
    start = draw(st.integers(0, len(base) - 1))
    rows = base[start : start + draw(st.integers(1, 12))]
    n = len(rows)
    x: np.ndarray = np.array([[float(c) for c in r[:-1]] for r in rows])
    y: np.ndarray = np.array([float(r[-1]) for r in rows])
    x = x.astype(draw(st.sampled_from([np.float64, np.float32, np.float16])))
    if model.labels is not None:
        lo = model.labels[0]
        y = y.astype(
            draw(st.sampled_from([np.int64, np.int32, np.int16, np.float64] + ([np.uint8] if lo >= 0 else [])))
        )
    else:
        y = y.astype(draw(st.sampled_from([np.float64, np.float32])))
    arrays: dict[str, np.ndarray] = {"x": x, "y": y}
    if draw(st.booleans()):
        arrays["unused"] = np.arange(3)
    why: list[str] = []
    corruptions = list(NPZ_CORRUPTIONS) + (["bad_label", "non_integer"] if model.labels else [])
    for kind in draw(st.lists(st.sampled_from(corruptions), max_size=2, unique=True)):
        key = FORCED_KEY.get(kind) or draw(st.sampled_from(["x", "y"]))
        if key not in arrays or arrays[key].dtype.kind not in "fiu" or arrays[key].ndim != (2 if key == "x" else 1):
            continue
        if not arrays[key].size and kind not in ("missing", "truncate", "not_npy", "not_zip"):
            continue
        a = arrays[key]
        idx = tuple(draw(st.integers(0, s - 1)) for s in a.shape) if a.size else ()
        if kind in ("nan", "inf", "too_large"):
            a = a.astype(np.float64)
            a[idx] = {"nan": np.nan, "inf": -np.inf, "too_large": 1e39}[kind]
        elif kind == "bad_label":
            lo, hi = model.labels or (0, None)
            a = a.astype(np.float64)
            a[idx] = draw(st.sampled_from([lo - 1, *([hi + 1] if hi is not None else []), 2**31]))
        elif kind == "non_integer":
            a = a.astype(np.float64)
            a[idx] += 0.5
        elif kind == "str_dtype":
            a = a.astype(str)
        elif kind == "object_dtype":
            a = a.astype(object)
        elif kind == "complex_dtype":
            a = a.astype(complex)
        elif kind == "datetime_dtype":
            a = np.zeros(a.shape, "datetime64[s]")
        elif kind == "x_rank_1":
            a = a.ravel()
        elif kind == "x_rank_3":
            a = a[:, :, None]
        elif kind == "y_rank_2":
            a = a[:, None]
        elif kind == "rows_disagree":
            a = np.concatenate([a, a[:1]])
        elif kind == "wrong_width":
            a = np.concatenate([a, a[:, :1]], axis=1)
        elif kind == "missing":
            del arrays[key]
            why.append(kind)
            continue
        elif kind == "zero_rows":
            arrays = {k: v[:0] if v.ndim else v for k, v in arrays.items()}
            why.append(kind)
            continue
        else:  # byte-level corruptions, below
            why.append(kind)
            continue
        arrays[key] = a
        why.append(kind)
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    raw = buf.getvalue()
    if "truncate" in why:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    if "not_zip" in why:
        raw = draw(st.binary(min_size=1, max_size=64))
    if "not_npy" in why:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for k, v in arrays.items():
                member = io.BytesIO()
                np.save(member, v, allow_pickle=True)
                z.writestr(f"{k}.npy", member.getvalue() if k != "x" else draw(st.binary(max_size=32)))
        raw = out.getvalue()
        if "x" not in arrays:
            why.append("missing")
    return NpzCase(model, raw, not why, n, why)


def _npz(workspace: Path, capsys: pytest.CaptureFixture[str], case: NpzCase) -> None:
    data = workspace / "data.npz"
    data.write_bytes(case.raw)
    res = bnnc(capsys, "check", str(case.model.model), "--data", str(data))
    expect_data_outcome(res, data, case.valid, case.rows)
    event("valid" if case.valid else "invalid: " + ", ".join(sorted(case.why)))


@fuzz_settings(150)
@given(case=npz_cases())
def test_npz_corruptions(case: NpzCase, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _npz(workspace, capsys, case)


@pytest.mark.slow
@fuzz_settings(1500)
@given(case=npz_cases())
def test_npz_corruptions_long(case: NpzCase, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _npz(workspace, capsys, case)


# ---------------------------------------------------------------- data of any rank: images, sequences, token ids

LAYER_DATA_MODELS = {
    # name: (model, the input's name, its shape without rows (T: any length, the same in every row), the range of
    # int ids or None for real values, the label range)
    "images": (
        """data {
  x: real[N, 6, 5, 2]
  y: int[N] in 0..2
}
network cnn(x) -> real[N, 3] {
  conv2d(4, 3, relu)
  maxpool(2)
  flatten
  dense(3)
}
observe y ~ Categorical(logits = cnn(x))
""",
        "x",
        (6, 5, 2),
        None,
        (0, 2),
    ),
    "tokens": (
        """data {
  V = 7
  tokens: int[N, 5] in 0..V-1
  y: int[N] in 0..1
}
network lm(tokens) -> real[N] {
  embedding(V, 4)
  positions
  attention(2, causal = true)
  globalavgpool
  dense(1)
}
observe y ~ Bernoulli(logits = lm(tokens))
""",
        "tokens",
        (5,),
        (0, 6),
        (0, 1),
    ),
    "sequences": (
        """data {
  x: real[N, T, 3]
  y: int[N] in 0..1
}
network net(x) -> real[N] {
  dense(4, tanh)
  globalavgpool
  dense(1)
}
observe y ~ Bernoulli(logits = net(x))
""",
        "x",
        ("T", 3),
        None,
        (0, 1),
    ),
}
LAYER_NPZ_CORRUPTIONS = (
    *("drop_axis", "add_axis", "wrong_size", "rows_disagree", "nan", "inf", "str_dtype", "missing_input"),
    *("zero_rows", "label_high", "token_high", "token_negative", "token_fraction", "token_huge"),
)


@dataclass
class LayerNpzCase:
    name: str
    raw: bytes
    valid: bool
    rows: int
    why: list[str]


@st.composite
def layer_npz_cases(draw: st.DrawFn) -> LayerNpzCase:
    name = draw(st.sampled_from(sorted(LAYER_DATA_MODELS)))
    _, key, shape, ids, labels = LAYER_DATA_MODELS[name]
    n = draw(st.integers(1, 8))
    steps = draw(st.integers(1, 6))
    full = (n, *(steps if s == "T" else s for s in shape))
    rng = np.random.default_rng(draw(st.integers(0, 1 << 16)))
    if ids is None:
        x = rng.normal(size=full).astype(draw(st.sampled_from([np.float32, np.float64, np.float16])))
    else:  # integer ids, in any integer dtype or as whole floats
        x = rng.integers(ids[0], ids[1] + 1, size=full).astype(
            draw(st.sampled_from([np.int64, np.int32, np.int16, np.uint8, np.float64]))
        )
    y = rng.integers(labels[0], labels[1] + 1, size=n).astype(draw(st.sampled_from([np.int64, np.int32, np.float64])))
    arrays: dict[str, np.ndarray] = {key: x, "y": y}
    why: list[str] = []
    corruptions = [
        c for c in LAYER_NPZ_CORRUPTIONS if not c.startswith("token") or ids is not None
    ]  # a real input has no ids
    for kind in draw(st.lists(st.sampled_from(corruptions), max_size=2, unique=True)):
        a = arrays.get(key)
        if a is None or a.dtype.kind not in "fiu" or not a.size:
            continue
        at = tuple(draw(st.integers(0, s - 1)) for s in a.shape)
        if kind in ("drop_axis", "add_axis") and {"drop_axis", "add_axis"} & set(why):
            continue  # one axis added and one dropped would give back the declared rank
        if kind == "drop_axis":
            if a.ndim < 2:
                continue
            a = a[..., 0]
        elif kind == "add_axis":
            a = a[..., None]
        elif kind == "wrong_size":
            axis = draw(st.integers(1, a.ndim - 1)) if a.ndim > 1 else 1
            if a.ndim < 2 or shape[axis - 1] == "T":  # a data-sized axis takes any length
                continue
            a = np.concatenate([a, a.take([0], axis=axis)], axis=axis)
        elif kind == "rows_disagree":
            a = np.concatenate([a, a[:1]])
        elif kind in ("nan", "inf"):
            a = a.astype(np.float64)
            a[at] = np.nan if kind == "nan" else np.inf
        elif kind == "str_dtype":
            a = a.astype(str)
        elif kind == "missing_input":
            del arrays[key]
            why.append(kind)
            continue
        elif kind == "zero_rows":
            arrays = {k: v[:0] for k, v in arrays.items()}
            why.append(kind)
            continue
        elif kind == "label_high":
            arrays["y"] = arrays["y"].copy()
            arrays["y"][draw(st.integers(0, n - 1))] = labels[1] + 1
            why.append(kind)
            continue
        else:  # token ids out of their range, or not whole
            a = a.astype(np.float64)
            a[at] = {"token_high": ids[1] + 1, "token_negative": -1, "token_fraction": 2.5, "token_huge": 2.0**40}[kind]
        arrays[key] = a
        why.append(kind)
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    return LayerNpzCase(name, buf.getvalue(), not why, n, why)


def _layer_npz(workspace: Path, capsys: pytest.CaptureFixture[str], case: LayerNpzCase) -> None:
    model = workspace / f"data_{case.name}.bnn"
    model.write_text(LAYER_DATA_MODELS[case.name][0])
    data = workspace / "layers.npz"
    data.write_bytes(case.raw)
    res = bnnc(capsys, "check", str(model), "--data", str(data))
    expect_data_outcome(res, data, case.valid, case.rows)
    event(f"{case.name}: " + ("valid" if case.valid else "invalid: " + ", ".join(sorted(case.why))))


@fuzz_settings(80)
@given(case=layer_npz_cases())
def test_layer_npz_data(case: LayerNpzCase, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _layer_npz(workspace, capsys, case)


@pytest.mark.slow
@fuzz_settings(1000)
@given(case=layer_npz_cases())
def test_layer_npz_data_long(case: LayerNpzCase, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _layer_npz(workspace, capsys, case)


# ---------------------------------------------------------------- data: byte-level chaos, no oracle


@st.composite
def chaotic_data(draw: st.DrawFn) -> tuple[DataModel, str, bytes]:
    model = draw(st.sampled_from(DATA_MODELS))
    suffix = draw(st.sampled_from([".csv", ".npz"]))
    if suffix == ".csv":
        raw = (REPO / "examples" / "data" / f"{model.name}.csv").read_bytes()
        cut = raw.find(b"\n", 1500)  # about 80 rows, ending at a line end
        raw = raw if cut < 0 else raw[: cut + 1]
    else:
        rows = BASES[model.name][:20]
        buf = io.BytesIO()
        np.savez(buf, x=np.array([[float(c) for c in r[:-1]] for r in rows]), y=np.array([float(r[-1]) for r in rows]))
        raw = buf.getvalue()
    for kind, i, j, payload in draw(
        st.lists(
            st.tuples(
                st.sampled_from(BYTE_OPS + ("flip",)),
                st.integers(0, 1 << 16),
                st.integers(0, 255),
                st.binary(min_size=1, max_size=6),
            ),
            min_size=1,
            max_size=4,
        )
    ):
        if kind == "flip" and raw:
            k = i % len(raw)
            raw = raw[:k] + bytes([raw[k] ^ (j or 1)]) + raw[k + 1 :]
        else:
            raw = apply_op(raw, (kind, i, j, payload))
    return model, suffix, raw


def _chaos(workspace: Path, capsys: pytest.CaptureFixture[str], case: tuple[DataModel, str, bytes]) -> None:
    model, suffix, raw = case
    data = workspace / f"chaos{suffix}"
    data.write_bytes(raw)
    res = bnnc(capsys, "check", str(model.model), "--data", str(data))
    header = expect_clean(res, _data_files(data))
    event(f"{suffix} exit {res.rc}")
    if header is not None:
        assert str(data) in res.err[res.err.index(header.group(0)) :], f"the error does not name {data}:\n{res.err}"


@fuzz_settings(100)
@given(case=chaotic_data())
def test_data_byte_chaos(
    case: tuple[DataModel, str, bytes], workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _chaos(workspace, capsys, case)


@pytest.mark.slow
@fuzz_settings(500)
@given(case=chaotic_data())
def test_data_byte_chaos_long(
    case: tuple[DataModel, str, bytes], workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _chaos(workspace, capsys, case)
