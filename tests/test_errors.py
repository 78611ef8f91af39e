"""The error corpus: every bad input must give a located message with a caret and a hint, never a traceback.

Each case is `tests/errors/models/NAME.bnn` with its expectation in `NAME.expected` (the format is in
tests/errors/README.md). Cases run through `bnnc check` in-process; a few also run in a real
subprocess, to prove that nothing but the message reaches a terminal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bnnlang.cli import main

ROOT = Path(__file__).resolve().parent / "errors"
MODELS = ROOT / "models"
DATA = ROOT / "data"
REPO = Path(__file__).resolve().parent.parent

KEYS = {"exit", "location", "location_file", "caret", "message", "hint", "not", "data", "model", "xfail"}
HEADER = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.*)$")
FILE_HEADER = re.compile(r"^(?P<path>.+?): error: (?P<message>.*)$")


@dataclass
class Case:
    name: str
    exit: int = 2
    location: tuple[int, int] | None = None  # None: a file-level error with no line
    location_file: str | None = None  # relative to tests/errors; default the model
    caret: str | None = None
    messages: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    data: str | None = None
    model: str | None = None
    xfail: str | None = None

    @property
    def model_path(self) -> Path:
        return MODELS / (self.model or f"{self.name}.bnn")

    @property
    def data_path(self) -> Path | None:
        return DATA / self.data if self.data else None

    @property
    def expected_file(self) -> Path:
        return ROOT / self.location_file if self.location_file else self.model_path

    def argv(self) -> list[str]:
        argv = ["check", str(self.model_path)]
        if self.data_path is not None:
            argv += ["--data", str(self.data_path)]
        return argv


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_expected(path: Path) -> Case:
    case = Case(path.stem)
    seen_location = False
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or key not in KEYS:
            raise ValueError(f"{path}:{lineno}: expected `key: value` with key in {sorted(KEYS)}")
        if key == "exit":
            case.exit = int(value)
        elif key == "location":
            seen_location = True
            if value != "none":
                ln, col = value.split(":")
                case.location = (int(ln), int(col))
        elif key == "caret":
            case.caret = _unquote(value)
        elif key == "message":
            case.messages.append(_unquote(value))
        elif key == "hint":
            case.hints.append(_unquote(value))
        elif key == "not":
            case.absent.append(_unquote(value))
        else:
            setattr(case, key, value)
    if not seen_location:
        raise ValueError(f"{path}: a `location:` line is required (`location: none` for file-level errors)")
    if not case.messages or not case.hints:
        raise ValueError(f"{path}: at least one `message:` and one `hint:` line are required")
    return case


CASES = sorted((parse_expected(p) for p in MODELS.glob("*.expected")), key=lambda c: c.name)


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.name, marks=marks)


def _file_line(path: Path, line: int) -> str | None:
    """The source line as the diagnostic should show it, or None where it holds unprintable characters."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.splitlines()
    shown = lines[line - 1] if line <= len(lines) else ""
    shown = shown.rstrip("\r\n").expandtabs(1)
    return shown if all(ch.isprintable() for ch in shown) else None


def _same_file(printed: str, expected: Path) -> bool:
    return Path(printed).resolve() == expected.resolve()


def check_output(case: Case, rc: int, out: str, err: str) -> None:
    __tracebackhide__ = True
    both = out + err
    assert "Traceback" not in both, f"a traceback reached the user:\n{both}"
    assert "internal error" not in both, f"bnnc reported an internal error (a bug):\n{both}"
    assert rc == case.exit, f"exit code {rc}, expected {case.exit}; output:\n{both}"
    assert out == "", f"nothing should go to stdout on an error, got:\n{out}"

    lines = err.rstrip("\n").splitlines()
    starts = [i for i, ln in enumerate(lines) if ": error: " in ln or ln.startswith("error: ")]
    assert starts, f"no `error:` header in stderr:\n{err}"
    assert len(starts) == 1, f"expected one error, got {len(starts)}:\n{err}"
    stanza = lines[starts[0] :]
    header = stanza[0]

    if case.location is None:
        m = FILE_HEADER.match(header)
        assert m and not HEADER.match(header), f"expected a file-level header `path: error: ...`, got: {header!r}"
        assert _same_file(m["path"], case.expected_file), f"header names {m['path']!r}, expected {case.expected_file}"
        assert not any(" | " in ln for ln in stanza), f"a file-level error has no source frame:\n{err}"
    else:
        m = HEADER.match(header)
        assert m, f"expected a located header `path:line:col: error: ...`, got: {header!r}"
        assert _same_file(m["path"], case.expected_file), f"header names {m['path']!r}, expected {case.expected_file}"
        line, col = int(m["line"]), int(m["col"])
        assert (line, col) == case.location, (
            f"location {line}:{col}, expected {case.location[0]}:{case.location[1]}:\n{err}"
        )
        # The frame: `<pad> |`, `<line> | <text>`, `<pad> | <spaces>^^^`.
        gutter = str(line)
        frame_prefix = f"{gutter} | "
        caret_prefix = f"{' ' * len(gutter)} | "
        frame = [i for i, ln in enumerate(stanza) if ln.startswith(frame_prefix)]
        assert frame, f"no framed source line `{gutter} | ...` under the header:\n{err}"
        i = frame[0]
        assert stanza[i - 1] == f"{' ' * len(gutter)} |", f"the frame should open with a bare gutter line:\n{err}"
        text = stanza[i][len(frame_prefix) :]
        want_text = _file_line(case.expected_file, line)
        if want_text is not None:
            assert text == want_text, f"framed line {text!r} is not line {line} of {case.expected_file}: {want_text!r}"
        assert i + 1 < len(stanza) and stanza[i + 1].startswith(caret_prefix), f"no caret line after the frame:\n{err}"
        caret_body = stanza[i + 1][len(caret_prefix) :]
        carets = caret_body.lstrip(" ")
        assert carets and set(carets) == {"^"}, f"the caret line holds {caret_body!r}"
        assert len(caret_body) - len(carets) == col - 1, (
            f"the caret starts at index {len(caret_body) - len(carets)} of the text, expected {col - 1} (column {col}):\n"
            f"{err}"
        )
        assert len(caret_body) <= max(len(text) + 1, col), f"the caret runs past the end of the line:\n{err}"
        if case.caret is not None:
            assert carets == case.caret, f"caret {carets!r}, expected {case.caret!r}"

    message = m["message"]
    for want in case.messages:
        assert want in message, f"message {message!r} lacks {want!r}"
    hint_lines = [ln for ln in stanza if ln.startswith("hint: ")]
    assert hint_lines and hint_lines[-1] == stanza[-1], f"the error should end with a `hint:` line:\n{err}"
    hint = hint_lines[-1][len("hint: ") :]
    assert hint.strip(), "the hint is empty"
    for want in case.hints:
        if want != "*":
            assert want in hint, f"hint {hint!r} lacks {want!r}"
    for unwanted in case.absent:
        assert unwanted not in both, f"the output should not contain {unwanted!r}:\n{both}"


@pytest.fixture(autouse=True)
def _crash_logs_in_tmp(tmp_path, monkeypatch):
    # An exit-3 crash writes a log under XDG_CACHE_HOME; keep it out of the user's home.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_corpus_size_and_layout():
    assert len(CASES) >= 45
    for case in CASES:
        if case.model is None:
            assert case.model_path.is_file(), f"{case.name}.expected has no sibling {case.name}.bnn"
        if case.data_path is not None:
            assert case.data_path.exists(), f"{case.name}: data file {case.data_path} is missing"
    assert not (MODELS / "does_not_exist.bnn").exists()
    # Bytes that an editor or a checkout must not have normalised away.
    assert b"\xe9" in (MODELS / "file_non_utf8.bnn").read_bytes()
    assert b"\x00" in (MODELS / "file_nul_bytes.bnn").read_bytes()
    assert b"\xe9" in (MODELS / "modules" / "latin1.bnn").read_bytes()
    assert (MODELS / "file_empty.bnn").read_bytes() == b""


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_error_case(case: Case, capsys):
    rc = main(case.argv())
    out, err = capsys.readouterr()
    check_output(case, rc, out, err)


SUBPROCESS_CASES = ["syntax_misspelled_param", "name_unknown_variable", "data_nan_cell", "file_missing"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_error_case_in_subprocess(name: str, tmp_path, capsys):
    case = next(c for c in CASES if c.name == name)
    assert case.xfail is None
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "bnnlang.cli", *case.argv()],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    check_output(case, proc.returncode, proc.stdout, proc.stderr)
    # The terminal sees exactly what the in-process run prints.
    rc = main(case.argv())
    _, err = capsys.readouterr()
    assert rc == proc.returncode
    assert proc.stderr == err
