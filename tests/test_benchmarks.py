"""The overhead benchmark runs end to end and writes tables of sane numbers.

No timing asserts: CI machines are shared and noisy. What is checked is that every
measurement happened (a finite, positive number in every cell) and that no ratio is
absurd, which would mean a loop was optimised away or a backend's timing key is
wrong (e.g. compilation counted per gradient).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header cells, body rows) of each pipe table in `text`."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            tables.append((block[0], block[2:]))  # block[1] is the |---| rule
            block = []
    return tables


def test_overhead_quick_writes_sane_table(tmp_path):
    out = tmp_path / "overhead.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--quick", "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    text = out.read_text()
    assert "xla_force_host_platform_device_count=1" in text
    tables = markdown_tables(text)
    assert len(tables) >= 2
    header, rows = tables[0]
    assert len(header) == 13 and len(rows) == 1
    assert rows[0][0] == "50" and rows[0][1] == "2,702"  # 1*50+50 + 50*50+50 + 50+1, plus the noise precision
    for header, rows in tables:
        for row in rows:
            assert len(row) == len(header)
            for name, cell in zip(header[1:], row[1:], strict=True):
                value = float(cell.replace(",", ""))
                assert math.isfinite(value) and value > 0, (name, cell)
                if "×" in name:
                    assert 0.2 <= value <= 50, (name, cell)
