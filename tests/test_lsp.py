"""`bnnc lsp`, the language server (docs/editors.md).

Unit tests call the pure functions (diagnostics, hover, completion, definition, settings) on text; the end-to-end
tests start `bnnc lsp` as an editor does and speak LSP to it over stdio (tests/lsp_client.py): a session through
every feature, bad input (a file over the size limit, a model that imports itself, a missing data file, bytes
that are not UTF-8, a body that is not JSON), and the mutation-fuzz corpus of tests/test_fuzz.py sent as edits,
each answered within a time bound, the server still answering hovers afterwards.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lsp_client import ROOT, Client
from test_fuzz import random_mutant

from bnnlang.check.backends import BACKENDS
from bnnlang.check.distributions import ACTIVATIONS, DISTRIBUTIONS, KERNELS
from bnnlang.check.nn import BLOCKS, LAYERS
from bnnlang.errors import BnnError
from bnnlang.lsp import diagnostics as diag_mod
from bnnlang.lsp.complete import complete
from bnnlang.lsp.config import Settings, data_for
from bnnlang.lsp.definition import definition
from bnnlang.lsp.diagnostics import MAX_CHARS, analyse
from bnnlang.lsp.hover import SUPPORTS, hover
from bnnlang.lsp.symbols import from_text
from bnnlang.lsp.text import from_client, to_client
from bnnlang.syntax.format import format_source
from bnnlang.syntax.parser import parse

EXAMPLES = sorted((ROOT / "examples").glob("*.bnn"))
REG = ROOT / "examples" / "regression_1d.bnn"
REG_TEXT = REG.read_text(encoding="utf-8")
STDLIB = ROOT / "stdlib" / "priors.bnn"
DATA_SETTING = {"bnnlang": {"data": {"examples/*.bnn": "examples/data/{stem}.csv"}}}
ANSWER_S = 5.0  # every answer of the server comes within this


def where(text: str, needle: str, delta: int = 0) -> tuple[int, int]:
    """The 0-based line and column of `needle`'s first occurrence (plus `delta` columns)."""
    for i, line in enumerate(text.split("\n")):
        if needle in line:
            return i, line.index(needle) + delta
    raise AssertionError(needle)


def symbols_of(text: str, model: Path = REG) -> dict:
    return analyse(text, str(model), model).symbols


# ---------------------------------------------------------------- diagnostics


def test_every_example_checks_clean_with_its_data() -> None:
    settings = Settings(root=ROOT).updated(DATA_SETTING)
    for ex in EXAMPLES:
        a = analyse(ex.read_text(encoding="utf-8"), str(ex), ex, settings)
        assert a.checked is not None, ex.name
        assert [d for d in a.diagnostics if d.severity == "error"] == [], ex.name
        assert data_for(a.text, ex, settings) is not None and data_for(a.text, ex, settings).path.is_file(), ex.name


def test_a_syntax_error_is_mapped_to_zero_based_columns_with_its_hint() -> None:
    text = REG_TEXT.replace("param sigma ~ HalfNormal(0.5)", "param sigma ~ HalfNormal(0.5 +)")
    with pytest.raises(BnnError) as err:
        parse(text, str(REG))
    (d,) = analyse(text, str(REG), REG).diagnostics
    loc = err.value.location
    assert (d.line, d.column, d.severity) == (loc.line - 1, loc.column - 1, "error")
    assert d.message.startswith(err.value.message) and f"hint: {err.value.hint}" in d.message
    assert d.end_column > d.column


def test_line_ends_change_no_position() -> None:
    text = REG_TEXT.replace("param sigma ~ HalfNormal(0.5)", "param sigma ~ HalfNormal(0.5 +)")
    lf = analyse(text, str(REG), REG).diagnostics
    assert len(lf) == 1
    assert analyse(text.replace("\n", "\r\n"), str(REG), REG).diagnostics == lf
    assert analyse(text.replace("\n", "\r"), str(REG), REG).diagnostics == lf


def test_warnings_are_warnings_and_pedantic_adds_its_own() -> None:
    text = REG_TEXT.replace("  y: real[N]\n", "  y: real[N]\n  z: real[N]\n").replace("default weight ~ neal()", "")
    plain = analyse(text, str(REG), REG).diagnostics
    assert [(d.severity, d.line) for d in plain] == [("warning", where(text, "z: real")[0])]
    assert "'z' is never used" in plain[0].message
    pedantic = analyse(text, str(REG), REG, Settings(pedantic=True)).diagnostics
    assert len(pedantic) == 2 and all(d.severity == "warning" for d in pedantic)


def test_an_error_in_an_imported_module_is_shown_on_the_import(tmp_path: Path) -> None:
    (tmp_path / "mine.bnn").write_text("prior p1() {\n  value ~ Normall(0, 1)\n}\n")
    model = tmp_path / "m.bnn"
    text = "data { y: real[N] }\nimport mine (p1)\nparam s ~ HalfNormal(1)\nobserve y ~ Normal(0, s)\n"
    (d,) = analyse(text, str(model), model).diagnostics
    assert d.line == 1 and d.severity == "error"
    assert f"{tmp_path / 'mine.bnn'}:2:11" in d.message and "Normall" in d.message


def test_a_model_that_imports_itself_gives_one_diagnostic(tmp_path: Path) -> None:
    model = tmp_path / "selfie.bnn"
    text = "import selfie (p)\ndata { y: real[N] }\nparam s ~ HalfNormal(1)\nobserve y ~ Normal(0, s)\n"
    model.write_text(text)
    start = time.perf_counter()
    (d,) = analyse(text, str(model), model).diagnostics
    assert time.perf_counter() - start < 2.0
    assert d.severity == "error" and "may only define priors" in d.message


def test_a_file_over_the_limit_gives_one_diagnostic_quickly() -> None:
    text = REG_TEXT + "# " + "x" * MAX_CHARS + "\n"
    start = time.perf_counter()
    a = analyse(text, str(REG), REG)
    assert time.perf_counter() - start < 0.5
    (d,) = a.diagnostics
    assert d.line == 0 and d.severity == "error" and "KiB" in d.message and a.program is None


def test_data_comment_missing_file_and_bad_data(tmp_path: Path) -> None:
    model = tmp_path / "m.bnn"
    missing = REG_TEXT + "# data: nowhere.csv\n"
    (d,) = analyse(missing, str(model), model).diagnostics
    assert (d.severity, d.line) == ("warning", where(missing, "# data:")[0])
    assert "nowhere.csv" in d.message and d.end_column == len("# data: nowhere.csv")

    (tmp_path / "good.csv").write_text("x,y\n0.5,1.0\n1.5,2.0\n")
    assert analyse("# data: good.csv\n" + REG_TEXT, str(model), model).diagnostics == []

    (tmp_path / "bad.csv").write_text("x,y\n0.5,1.0\n1.5,oops\n")
    (d,) = analyse("# data: bad.csv\n" + REG_TEXT, str(model), model).diagnostics
    assert d.severity == "error" and d.line == 0
    assert "bad.csv" in d.message and "oops" in d.message and f"{tmp_path / 'bad.csv'}:3:" in d.message


def test_the_data_setting_maps_models_to_files_and_the_comment_wins(tmp_path: Path) -> None:
    settings = Settings(root=ROOT).updated(DATA_SETTING)
    ref = data_for(REG_TEXT, REG, settings)
    assert ref.path == ROOT / "examples" / "data" / "regression_1d.csv" and ref.from_setting
    ref = data_for("# data: here.csv\n" + REG_TEXT, REG, settings)
    assert ref.path == REG.parent / "here.csv" and ref.line == 0
    assert data_for(REG_TEXT, tmp_path / "other.bnn", settings) is None
    # malformed settings are ignored, never an error
    for junk in (None, 3, [1], {"bnnlang": 3}, {"bnnlang": {"data": [1], "pedantic": "yes"}}):
        assert settings.updated(junk) == settings


def test_a_bug_in_the_checker_is_a_diagnostic(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(program, model_dir):
        raise RuntimeError("boom")

    monkeypatch.setattr(diag_mod, "check", broken)
    (d,) = analyse(REG_TEXT, str(REG), REG).diagnostics
    assert "RuntimeError: boom" in d.message and "a bug in bnnc" in d.message


def test_positions_count_utf16_units_for_the_client() -> None:
    line = "# \U0001f600 é x"
    assert to_client(line, 5, "utf-16") == 6 and to_client(line, 5, "utf-32") == 5 and to_client(line, 5, "utf-8") == 9
    for col in range(len(line) + 1):
        for enc in ("utf-8", "utf-16", "utf-32"):
            assert from_client(line, to_client(line, col, enc), enc) == col


# ---------------------------------------------------------------- hover


def hover_at(text: str, needle: str, delta: int = 1) -> str:
    found = hover(text, *where(text, needle, delta), symbols_of(text))
    assert found is not None, needle
    return found.text


def test_hover_on_every_distribution_kernel_layer_and_activation_comes_from_the_tables() -> None:
    assert {d.support for d in DISTRIBUTIONS.values()} <= set(SUPPORTS)
    names = [*DISTRIBUTIONS, *KERNELS, *LAYERS, *BLOCKS, "GP"]
    for name in names:
        text = f"param a ~ Normal(0, 1)\n{name}\n"
        found = hover(text, 1, 0, {})
        assert found is not None and (found.start, found.end) == (0, len(name)), name
        if name in DISTRIBUTIONS:
            assert DISTRIBUTIONS[name].signature() in found.text
        if name in KERNELS:
            assert KERNELS[name].doc in found.text
        if name in ACTIVATIONS and ACTIVATIONS[name]:
            assert ACTIVATIONS[name] in found.text


def test_hover_on_every_setting_of_every_backend_shows_its_doc() -> None:
    for b in BACKENDS.values():
        for key, spec in b.settings.items():
            value = spec.choices[0] if spec.choices else "1"
            text = f"infer {b.name}(chains = 2,\n  {key} = {value})\n"
            found = hover(text, 1, 3, {})
            assert found is not None and spec.doc in found.text and spec.describe() in found.text, (b.name, key)
            if spec.choices:  # on a word value, the same
                assert hover(text, 1, len(f"  {key} = "), {}).text == found.text
    assert "No-U-Turn" in hover("infer nuts()\n", 0, 7, {}).text


def test_hover_on_model_names_and_stdlib_priors() -> None:
    assert "network mlp(x) -> real[N]" in hover_at(REG_TEXT, "mlp(x)")
    assert "param sigma ~ HalfNormal(0.5)" in hover_at(REG_TEXT, "sigma)")
    assert "x: real[N, 1]" in hover_at(REG_TEXT, "mlp(x)", 4)
    neal = hover_at(REG_TEXT, "neal()")
    assert "prior neal(scale = 1.0)" in neal and "Neal (1996)" in neal and str(STDLIB) in neal
    assert hover(REG_TEXT, *where(REG_TEXT, "# Bayesian", 3), symbols_of(REG_TEXT)) is None  # comments: nothing


# ---------------------------------------------------------------- completion


def labels(text: str, line: int, col: int, symbols: dict | None = None) -> list[str]:
    syms = symbols_of(text) if symbols is None else symbols
    return [i.label for i in complete(text, line, col, syms, REG.parent)]


def test_completion_by_place() -> None:
    t = REG_TEXT
    assert labels(t, *where(t, "dense(20, tanh)", 11)) == ["tanh"]
    assert set(ACTIVATIONS) <= set(labels(t, *where(t, "dense(20, tanh)", 10)))
    assert "Normal" in labels(t, *where(t, "Normal(mlp", 2)) and "mlp" not in labels(t, *where(t, "Normal(mlp", 2))
    inside = labels(t, *where(t, "Normal(mlp", 7))
    assert {"mlp", "x", "y", "sigma", "N", "sqrt"} <= set(inside) and "Normal" not in inside
    assert labels(t, *where(t, "warmup", 2)) == ["warmup"]
    assert set(BACKENDS["nuts"].settings) == set(labels(t, *where(t, "warmup", 0)))
    assert labels(t, *where(t, "nuts(", 0)) == list(BACKENDS)
    assert labels(t, *where(t, "neal()", 2)) == ["neal"]
    layers = labels(t, *where(t, "dense(20, tanh)", 0))
    offered = {name for name, kind in LAYERS.items() if kind.offered}
    assert {"dense", "conv2d", "attention", "residual", "deterministic", "default", *ACTIVATIONS} <= set(layers)
    assert set(layers) == offered | set(BLOCKS) | {"default"} and "batchnorm" not in layers
    assert labels(t, *where(t, "std.priors", 4)) == ["std.priors"]
    assert "horseshoe" in labels(t, *where(t, "(neal)", 1)) and "neal" not in labels(t, *where(t, "(neal)", 5))
    assert {"param", "network", "observe", "infer"} <= set(labels(t, *where(t, "observe", 0)))


def test_completion_works_in_a_half_typed_file() -> None:
    text = REG_TEXT.replace("observe y ~ Normal(mlp(x), sigma)", "observe y ~ Normal(ml")
    assert analyse(text, str(REG), REG).program is None  # does not parse
    symbols = from_text(text, REG.parent)
    assert labels(text, *where(text, "Normal(ml", 9), symbols) == ["mlp"]
    assert labels(text, *where(text, "~ Normal(ml", 4), symbols) == ["Normal"]


# ---------------------------------------------------------------- definition


def test_definition_of_priors_networks_params_data_and_modules() -> None:
    symbols = symbols_of(REG_TEXT)
    target = definition(REG_TEXT, *where(REG_TEXT, "neal()", 1), symbols, REG.parent)
    assert target.path == str(STDLIB) and target.line == where(STDLIB.read_text(), "prior neal")[0]
    for needle, defined in [("mlp(x),", "network mlp"), ("sigma)", "param sigma"), ("(x)", "  x: real")]:
        target = definition(REG_TEXT, *where(REG_TEXT, needle, 1), symbols, REG.parent)
        assert target.path is None and target.line == where(REG_TEXT, defined)[0], needle
    target = definition(REG_TEXT, *where(REG_TEXT, "std.priors", 2), symbols, REG.parent)
    assert (target.path, target.line) == (str(STDLIB), 0)
    assert definition(REG_TEXT, *where(REG_TEXT, "Normal(mlp", 1), symbols, REG.parent) is None


def test_definition_in_an_unparsable_file_comes_from_a_scan() -> None:
    text = REG_TEXT.replace("dense(1)\n}", "dense(1)\n").replace("observe y", "observe y\nobserve")
    assert analyse(text, str(REG), REG).program is None
    symbols = from_text(text, REG.parent)
    target = definition(text, *where(text, "mlp(x),", 1), symbols, REG.parent)
    assert target.line == where(text, "network mlp")[0] and target.column == len("network ")


# ---------------------------------------------------------------- the server's time bound


def test_a_slow_check_publishes_timed_out_then_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from bnnlang.lsp import server as srv

    def slow(text, path, file, settings):
        time.sleep(0.5)
        return analyse(text, path, file, settings)

    monkeypatch.setattr(srv, "analyse", slow)
    monkeypatch.setattr(srv, "CHECK_SECONDS", 0.1)
    server = srv.BnnServer()
    published: list[tuple[float, list]] = []
    server.publish = lambda doc, found, text: published.append((time.perf_counter(), found))
    doc = server.open(REG.as_uri(), REG_TEXT.replace("sigma)", "sigma"), 1)

    async def session() -> None:
        await server.check(doc)
        deadline = time.perf_counter() + 10.0
        while len(published) < 2 and time.perf_counter() < deadline:  # the late result, when the check ends
            await asyncio.sleep(0.02)

    start = time.perf_counter()
    asyncio.run(session())
    assert len(published) == 2
    (first_at, first), (_, second) = published
    assert first_at - start < 2.0 and "longer than 0.1 s" in first[0].message  # before the 0.5-s check ended
    assert second[0].severity == "error" and "')'" in second[0].message


# ---------------------------------------------------------------- end to end, over stdio


def fmt_params(uri: str) -> dict:
    return {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}}


def test_a_session_through_every_feature(tmp_path: Path) -> None:
    uri = REG.as_uri()
    start = time.monotonic()
    with Client(stderr=tmp_path / "stderr.txt") as c:
        caps = c.initialize(DATA_SETTING)["capabilities"]
        assert caps["hoverProvider"] and caps["definitionProvider"] and caps["documentFormattingProvider"]
        c.open(uri, REG_TEXT, 1)
        assert c.diagnostics(uri, 1, ANSWER_S) == []

        broken = REG_TEXT.replace("param sigma ~ HalfNormal(0.5)", "param sigma ~ HalfNormal(0.5 +)")
        c.change(uri, broken, 2)
        (d,) = c.diagnostics(uri, 2, ANSWER_S)
        line, col = where(broken, "+)", 1)
        assert d["severity"] == 1 and d["range"]["start"] == {"line": line, "character": col}
        assert c.request("textDocument/formatting", fmt_params(uri)) is None  # no edit, no error
        c.change(uri, REG_TEXT, 3)
        assert c.diagnostics(uri, 3, ANSWER_S) == []

        def hover_text(needle: str, delta: int = 1) -> str:
            return c.at("textDocument/hover", uri, *where(REG_TEXT, needle, delta), ANSWER_S)["contents"]["value"]

        assert DISTRIBUTIONS["Normal"].signature() in hover_text("Normal(mlp")
        assert "dense(units, activation = identity)" in hover_text("dense(20")
        assert "prior neal(scale = 1.0)" in hover_text("neal()")
        assert BACKENDS["nuts"].settings["warmup"].doc in hover_text("warmup")

        def completion(needle: str, delta: int) -> list[str]:
            return [i["label"] for i in c.at("textDocument/completion", uri, *where(REG_TEXT, needle, delta))["items"]]

        assert completion("dense(20, tanh)", 11) == ["tanh"]
        assert "Normal" in completion("Normal(mlp", 2) and "mlp" in completion("Normal(mlp", 7)

        found = c.at("textDocument/definition", uri, *where(REG_TEXT, "neal()", 1))
        assert found["uri"] == STDLIB.as_uri()
        assert found["range"]["start"]["line"] == where(STDLIB.read_text(), "prior neal")[0]
        found = c.at("textDocument/definition", uri, *where(REG_TEXT, "mlp(x),", 1))
        assert found["uri"] == uri and found["range"]["start"] == {
            "line": where(REG_TEXT, "network mlp")[0],
            "character": 8,
        }

        messy = REG_TEXT.replace("param sigma ~ HalfNormal(0.5)", "param   sigma~HalfNormal( 0.5 )")
        c.change(uri, messy, 4)
        c.diagnostics(uri, 4, ANSWER_S)
        (edit,) = c.request("textDocument/formatting", fmt_params(uri), ANSWER_S)
        assert edit["newText"] == format_source(messy) == REG_TEXT
        assert edit["range"]["end"] == {"line": len(messy.split("\n")) - 1, "character": 0}
        assert c.close() == 0
    assert time.monotonic() - start < 15.0


def test_bad_input_over_stdio(tmp_path: Path) -> None:
    selfie = tmp_path / "selfie.bnn"
    selfie.write_text("import selfie (p)\n" + REG_TEXT)
    cases = {
        "huge": ((tmp_path / "huge.bnn"), REG_TEXT + "# " + "x" * MAX_CHARS + "\n", "KiB"),
        "self": (selfie, selfie.read_text(), "may only define priors"),
        "data": ((tmp_path / "m.bnn"), "# data: gone.csv\n" + REG_TEXT, "gone.csv"),
        "bytes": (
            (tmp_path / "b.bnn"),
            REG_TEXT.encode().replace(b"sigma)", b"sigma\xff)").decode("utf-8", "surrogateescape"),
            "'\ufffd'",
        ),
    }
    with Client(stderr=tmp_path / "stderr.txt") as c:
        c.initialize()
        c.send_raw(b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": \xff\xfe}')  # not JSON
        c.send_raw(b"not json at all")
        for path, text, expected in cases.values():
            c.open(path.as_uri(), text, 7)
            (d,) = c.diagnostics(path.as_uri(), 7, ANSWER_S)
            assert expected in d["message"], (path.name, d)
        astral = tmp_path / "astral.bnn"  # a character beyond the BMP is two UTF-16 units for the client
        c.open(astral.as_uri(), "param a ~ Normal(0, 1) \U0001f600\n", 1)
        (d,) = c.diagnostics(astral.as_uri(), 1, ANSWER_S)
        assert d["range"]["start"]["character"] == 23 and d["range"]["end"]["character"] == 25
        hover = c.at("textDocument/hover", REG.as_uri(), 0, 0)  # a document never opened: nothing
        assert hover is None
        huge = cases["huge"][0].as_uri()
        assert c.at("textDocument/hover", huge, *where(REG_TEXT, "Normal(mlp", 1)) is None
        assert c.close() == 0


def test_the_fuzz_corpus_as_edits_never_stops_the_server(tmp_path: Path) -> None:
    rnd = random.Random(26)
    uri = (tmp_path / "fuzz.bnn").as_uri()
    slowest = 0.0
    with Client(stderr=tmp_path / "stderr.txt") as c:
        c.initialize()
        c.open(uri, REG_TEXT, 1)
        c.diagnostics(uri, 1, ANSWER_S)
        for version in range(2, 152):
            text = random_mutant(rnd).decode("utf-8", "surrogateescape")
            sent = time.monotonic()
            c.change(uri, text, version)
            diags = c.diagnostics(uri, version, ANSWER_S)
            slowest = max(slowest, time.monotonic() - sent)
            assert all(d["range"]["start"]["line"] >= 0 and d["severity"] in (1, 2) for d in diags)
            if version % 10 == 0:  # requests answer mid-stream too, whatever the text
                c.at("textDocument/hover", uri, 3, 4)
                c.at("textDocument/completion", uri, 5, 2)
                c.request("textDocument/formatting", fmt_params(uri))
        c.change(uri, REG_TEXT, 200)
        assert c.diagnostics(uri, 200, ANSWER_S) == []
        found = c.at("textDocument/hover", uri, *where(REG_TEXT, "Normal(mlp", 1))
        assert DISTRIBUTIONS["Normal"].signature() in found["contents"]["value"]
        assert c.close() == 0
    assert slowest < ANSWER_S  # the timed-out diagnostic comes after 2 s at the latest, so this holds under load
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


# ---------------------------------------------------------------- what it imports, and without pygls

NO_JAX = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import bnnlang.cli  # the path `bnnc lsp` takes
    from bnnlang.lsp import server
    from bnnlang.lsp.config import Settings
    from bnnlang.lsp.diagnostics import analyse
    from bnnlang.lsp.hover import hover
    from bnnlang.lsp.complete import complete
    server.build()
    settings = Settings(root=Path.cwd()).updated({"bnnlang": {"data": {"examples/*.bnn": "examples/data/{stem}.csv"}}})
    for ex in sorted(Path("examples").glob("*.bnn")):
        a = analyse(ex.read_text(), str(ex), ex.absolute(), settings)
        assert a.checked is not None, ex
        hover(a.text, 2, 2, a.symbols)
        complete(a.text, 2, 2, a.symbols, ex.parent)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "numpyro", "arviz", "optax", "blackjax"))
    print("heavy:", heavy, "pygls" in sys.modules)
    """
)


def test_the_server_never_imports_jax() -> None:
    out = subprocess.run([sys.executable, "-c", NO_JAX], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "heavy: [] True"


def test_without_pygls_bnnc_lsp_says_how_to_install_it() -> None:
    code = "import sys; sys.modules['pygls'] = None; from bnnlang.cli import main; sys.exit(main(['lsp']))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert 'pip install "bnnlang[lsp]"' in out.stderr and "pygls" in out.stderr
