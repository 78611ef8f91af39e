"""Every shipped example's report, as a person sees it: rendered by headless Chromium.

Each example runs briefly (NUTS, 2 chains x 30 draws: the report must be
readable for a poor run too), `bnnc report` writes its HTML, and Chromium
loads it from disk with the network off. A probe script, added to a copy of
the page (the report itself has none), records how many images decoded; the
page must show every figure, and its screenshot must not be blank. Set
BNNLANG_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bnnlang.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.bnn"))
DATA = ROOT / "examples" / "data"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
PROBE = (
    "<script>addEventListener('load', () => { const imgs = [...document.images];"
    " document.body.setAttribute('data-images', imgs.filter(i => i.complete && i.naturalWidth > 0).length"
    " + '/' + imgs.length); });</script>"
)

pytestmark = [
    pytest.mark.long,  # every example run end to end and rendered: minutes, so CI runs it (-m long), not the default
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium on this machine: `apt-get install chromium` (Debian's package; .ci/run installs it)",
    ),
]


def _chromium(tmp: Path, *args: str) -> str:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_report_renders_in_chromium(example: Path, tmp_path: Path) -> None:
    out = tmp_path / example.stem
    flags = ["--chains", "2", "--warmup", "30", "--samples", "30", "--max-tree-depth", "6", "-q"]
    assert main(["run", str(example), "--data", str(DATA / f"{example.stem}.csv"), "-o", str(out), *flags]) == 0
    extra = []
    for option, suffix in (("--test", "_test.csv"), ("--ood", "_ood.csv")):
        if (DATA / f"{example.stem}{suffix}").is_file():
            extra += [option, str(DATA / f"{example.stem}{suffix}")]
    assert main(["report", str(out), "-q", *extra]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    figures = len(json.loads((out / "report.json").read_text(encoding="utf-8"))["figures"])
    assert figures >= 2 and page.count("<img ") == figures

    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    loaded = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert loaded, "the page did not finish loading"
    assert loaded.group(1) == loaded.group(2) == str(figures), f"images decoded/total: {loaded.groups()}"
    assert "Verdict:" in dom

    shot = tmp_path / f"{example.stem}.png"
    _chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={shot}", (out / "report.html").as_uri())
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] == 2400 and pixels.shape[1] == 1200
    assert np.std(pixels[..., :3]) > 0.05, "the screenshot is blank"
    keep = os.environ.get("BNNLANG_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
