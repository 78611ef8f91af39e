"""The backend registry (`bnnlang/check/backends.py`): adding a backend is one module plus one entry.

Every registered backend must have its implementation module, appear in `bnnc run --help`, have its settings
table in docs/inference.md exactly as the registry generates it, and be named and judged by the report as its
entry says; and no module outside the registry and the backends themselves may test a backend's name.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest
from models import LINREG_SOURCE, save_linreg_data

from bnnlang.api import Model
from bnnlang.check.backends import BACKENDS, settings_table
from bnnlang.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_registry_lists_the_four_backends_and_their_modules() -> None:
    assert list(BACKENDS) == ["nuts", "sghmc", "svi", "mile"]
    for name, backend in BACKENDS.items():
        module = importlib.import_module(backend.module)
        assert callable(module.run), name
        assert Path(module.__file__).name == f"{name}.py"


def test_every_backend_appears_in_run_help(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps long lines
    for name, backend in BACKENDS.items():
        assert f"{name} {' '.join(backend.summary.split())}" in text, name


def test_the_docs_settings_tables_are_the_registry() -> None:
    doc = (ROOT / "docs" / "inference.md").read_text(encoding="utf-8")
    for name, backend in BACKENDS.items():
        assert f"### `{name}` settings\n\n{settings_table(backend)}\n" in doc, f"regenerate the {name} table"


@pytest.fixture(scope="module")
def nuts_run(tmp_path_factory):
    model = Model.from_source(LINREG_SOURCE, "linear.bnn")
    data = save_linreg_data(tmp_path_factory.mktemp("registry") / "data.npz")
    return model.run(data, chains=2, warmup=100, samples=100, seed=0, out=tmp_path_factory.mktemp("run") / "r")


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_is_named_and_judged_by_the_report(nuts_run, name, tmp_path) -> None:
    """The report reads the run's backend from the registry: its summary, how it describes the run, and which
    checks apply (R-hat and ESS for Markov chains, the loss for a fitted approximation)."""
    backend = BACKENDS[name]
    record = nuts_run.record
    saved = (record.backend, record.settings)
    record.backend = name  # the same draws, reported as if `name` had made them
    record.settings = {k: s.default for k, s in backend.settings.items()}
    nuts_run.traces = {"loss": [3.0 - 1e-3 * i for i in range(200)]}
    try:
        page, data = nuts_run.write_report(nuts_run.report(), tmp_path)
        described = backend.describe(record.settings)
    finally:
        (record.backend, record.settings), nuts_run.traces = saved, {}
    content = json.loads(data.read_text())
    assert content["run"]["backend"] == name
    assert content["run"]["backend_summary"] == backend.summary
    assert content["run"]["run_summary"] == described
    assert backend.summary in page.read_text().replace("&#x27;", "'")
    checks = {c["name"].split(":")[0] for c in content["verdict"]["checks"]}
    assert ("r_hat" in checks) == backend.mcmc and ("elbo" in checks) == (not backend.mcmc)


def test_no_module_tests_a_backends_name() -> None:
    """Outside the registry and the backends' own modules, code reads a backend's entry instead of comparing its
    name with a literal (`method == "svi"`)."""
    names = set(BACKENDS)
    found = []
    for path in (ROOT / "bnnlang").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "bnnlang/check/backends.py" or rel.startswith("bnnlang/infer/backends/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                parts = [node.left, *node.comparators]
                literals = {p.value for p in parts if isinstance(p, ast.Constant)}
                if literals & names:
                    found.append(f"{rel}:{node.lineno}")
    assert not found, found
