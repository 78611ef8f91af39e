"""Every shipped example's report, as a person sees it: rendered by headless Chromium.

Each example runs briefly (NUTS 2 chains x 30 draws, SG-HMC and MILE 2 x 20, SVI 300 steps: the report must be
readable for a poor run too), `bnnc report` writes its HTML, and Chromium loads it from disk with the network off. A probe
script, added to a copy of the page (the report itself has none), records how many images decoded; the page must
show every figure, and its screenshot must not be blank. Set BNNLANG_SCREENSHOTS=DIR to keep the screenshots.

Data: examples/data/NAME.csv with NAME_test.csv and NAME_ood.csv beside it, or else the files the example's own
header names (`--data`, `--test`, `--ood`), e.g. the NPZ images of the CNN examples, of which only the first
NPZ_ROWS rows are used. Image and sequence models must show a reliability diagram and say which views over input
columns they skip (tests/test_report_tensors.py checks the numbers).
"""

from __future__ import annotations

import html
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
# Of the networks on images and sequences, one of each is rendered here (CI's time; the report's logic for the
# others is the same and tests/test_report_tensors.py checks it without a browser).
RENDERED_ELSEWHERE = {"digits_partial", "mnist1d_cnn"}
EXAMPLES = [p for p in sorted((ROOT / "examples").glob("*.bnn")) if p.stem not in RENDERED_ELSEWHERE]
DATA = ROOT / "examples" / "data"
NPZ_ROWS = {"--data": 300, "--test": 150, "--ood": 150}
RUN_FLAGS = {
    "nuts": ["--chains", "2", "--warmup", "30", "--samples", "30", "--max-tree-depth", "6"],
    "sghmc": ["--chains", "2", "--warmup", "20", "--samples", "20"]
    + ["--set", "init=map", "--set", "map_steps=100", "--set", "map_restarts=1"],
    "mile": ["--chains", "2", "--warmup", "100", "--samples", "20", "--set", "map_steps=100"],
    "svi": ["--set", "steps=300", "--set", "samples=30"],
}
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


def _files(example: Path, tmp: Path) -> dict[str, Path]:
    """--data, and --test / --ood where the example has them (NPZ files cut to NPZ_ROWS rows into `tmp`)."""
    if (DATA / f"{example.stem}.csv").is_file():
        found = {"--data": DATA / f"{example.stem}.csv"}
        for option, suffix in (("--test", "_test.csv"), ("--ood", "_ood.csv")):
            if (DATA / f"{example.stem}{suffix}").is_file():
                found[option] = DATA / f"{example.stem}{suffix}"
        return found
    header = "\n".join(line for line in example.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    found = {option: ROOT / m.group(1) for option in NPZ_ROWS if (m := re.search(rf"{option}\s+(\S+)", header))}
    assert "--data" in found, f"{example.name}: no {example.stem}.csv and no --data file named in its header"
    for option, path in found.items():
        assert path.is_file(), f"{example.name} names {path}, which is missing"
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                np.savez(tmp / f"{option[2:]}.npz", **{k: z[k][: NPZ_ROWS[option]] for k in z.files})
            found[option] = tmp / f"{option[2:]}.npz"
    return found


def _chromium(tmp: Path, *args: str) -> str:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_report_renders_in_chromium(example: Path, tmp_path: Path) -> None:
    out = tmp_path / example.stem
    files = _files(example, tmp_path)
    infer = re.search(r"^infer\s+(\w+)", example.read_text(encoding="utf-8"), re.MULTILINE)
    backend = infer.group(1) if infer else "nuts"
    assert backend in RUN_FLAGS, f"{example.name}: add short-run flags for {backend} to RUN_FLAGS"
    flags = RUN_FLAGS[backend] + ["-q"]
    assert main(["run", str(example), "--data", str(files["--data"]), "-o", str(out), *flags]) == 0
    extra = [str(a) for option in ("--test", "--ood") if option in files for a in (option, files[option])]
    assert main(["report", str(out), "-q", *extra]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    content = json.loads((out / "report.json").read_text(encoding="utf-8"))
    figures = len(content["figures"])
    assert figures >= 2 and page.count("<img ") == figures
    reasons = [s["reason"] for s in content["skipped_views"]]
    if any("integer ids" in r or "an image or a sequence" in r for r in reasons):  # image, sequence or tokens
        assert {"predictive_1d", "maps", "relevance", "prior_functions"} <= {
            s["view"] for s in content["skipped_views"]
        }
    classifiers = [n for n, u in content["uncertainty"].items() if "mean_mutual_information" in u]
    assert sorted(content["reliability"]) == sorted(classifiers)
    assert all(f"reliability_{n}" in content["figures"] for n in classifiers)

    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    loaded = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert loaded, "the page did not finish loading"
    assert loaded.group(1) == loaded.group(2) == str(figures), f"images decoded/total: {loaded.groups()}"
    assert "Verdict:" in dom
    for s in content["skipped_views"]:  # said on the page, not silently missing
        assert html.escape(s["title"]) in dom

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
