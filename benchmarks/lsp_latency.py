"""Language-server latency: how long after an edit an editor shows `bnnc lsp`'s diagnostics.

The server runs as an editor starts it (`bnnc lsp` over stdio, the client of tests/lsp_client.py), with the
workspace setting that names each example's data file, so every check also checks the data. Each shipped example
is opened, then edited `--edits` times (a trailing comment toggled on and off, the full text sent, as with
full-document sync); each edit is timed from sending didChange to receiving the publishDiagnostics of that
version, on the client's clock. The first check of each file (and the server's start) is left out: the target
is the latency of typing, 100 ms.

    python benchmarks/lsp_latency.py [--edits 50 | --quick] [-o benchmarks/results/lsp_latency.md]

Beside the table it writes the same numbers as JSON (`-o`'s path with `.json`), which the quick suite's test reads
to guard the target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from provenance import facts, provenance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lsp_client import Client  # noqa: E402

TARGET_MS = 100.0
SETTINGS = {"bnnlang": {"data": {"examples/*.bnn": "examples/data/{stem}.csv"}}}


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def measure(client: Client, model: Path, edits: int) -> list[float]:
    """Milliseconds from each didChange to its diagnostics, after the first check of `model`."""
    uri = model.as_uri()
    text = model.read_text(encoding="utf-8")
    client.open(uri, text, 1)
    client.diagnostics(uri, 1, timeout=30.0)
    times = []
    for version in range(2, edits + 2):
        edited = text + "# edited\n" if version % 2 == 0 else text
        start = time.perf_counter()
        client.change(uri, edited, version)
        found = client.diagnostics(uri, version, timeout=10.0)
        times.append((time.perf_counter() - start) * 1000)
        assert not [d for d in found if d["severity"] == 1], (model.name, found)
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edits", type=int, default=50, help="timed edits per example (default 50)")
    ap.add_argument("--quick", action="store_true", help="10 edits per example (the quick benchmark suite)")
    ap.add_argument("-o", "--out", default=str(ROOT / "benchmarks" / "results" / "lsp_latency.md"))
    args = ap.parse_args()
    if args.quick:
        args.edits = 10
    examples = sorted((ROOT / "examples").glob("*.bnn"))
    rows = []
    with Client() as client:
        client.initialize(SETTINGS)
        for model in examples:
            times = measure(client, model, args.edits)
            rows.append((model.name, statistics.median(times), p90(times), max(times)))
            print(f"{model.name}: median {rows[-1][1]:.1f} ms, p90 {rows[-1][2]:.1f} ms", file=sys.stderr)
    medians = [r[1] for r in rows]
    verdict = "met" if max(medians) <= TARGET_MS else "missed"
    lines = [
        "# Language server latency",
        "",
        provenance(
            f"Written by `benchmarks/lsp_latency.py --edits {args.edits}`; the language server never imports JAX. "
            "Milliseconds from didChange to that version's publishDiagnostics, on the client's clock, over stdio; "
            "each example with its data file checked too (the `bnnlang.data` setting); the first check of each "
            "file is left out."
        ),
        "",
        "| example | median ms | p90 ms | max ms |",
        "|---|---|---|---|",
        *[f"| {name} | {med:.1f} | {q:.1f} | {top:.1f} |" for name, med, q, top in rows],
        "",
        f"Target: median at most {TARGET_MS:.0f} ms per example: {verdict} (largest median "
        f"{max(medians):.1f} ms, {len(rows)} examples x {args.edits} edits).",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    keys = ("example", "median_ms", "p90_ms", "max_ms")
    record = {"edits": args.edits, "target_ms": TARGET_MS, "rows": [dict(zip(keys, r)) for r in rows]}
    Path(args.out).with_suffix(".json").write_text(json.dumps({**record, "provenance": facts()}, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
