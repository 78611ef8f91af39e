"""The figures of the HTML run report, each drawn from plain NumPy arrays and returned as PNG bytes.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas attached directly, so nothing
goes through pyplot: no global figure list to leak into, no interactive backend needed, and the
user's own backend choice is left alone. Style settings apply only inside `rc_context`.

Names and labels come from user model files, so every piece of user text is drawn with
`parse_math=False` (and usetex off): a `$` in a variable name stays a dollar sign.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from statistics import NormalDist
from typing import Any

import matplotlib
import numpy as np
from matplotlib import cycler
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image  # a hard dependency of matplotlib

# Okabe-Ito: distinguishable under the common colour-vision deficiencies.
BLUE, ORANGE, SKY, GREEN, VERMILION, PURPLE, YELLOW = (
    "#0072B2",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#F0E442",
)
INK = "#222222"
GREY = "#888888"
CHAIN_COLOURS = (BLUE, ORANGE, GREEN, VERMILION, PURPLE, SKY, INK, YELLOW)

FIGSIZE = (6.4, 3.4)
DPI = 96
_PALETTE_ABOVE = 90_000  # bytes; see _as_palette
_MAX_TEXT = 40  # longer user names are cut so a label cannot stretch the figure
_MAX_TITLE = 70
_EXACT_BINOMIAL_MAX = 2_000_000
_MAX_BINS = 60

_RC: dict[str, Any] = {
    "text.usetex": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=CHAIN_COLOURS),
    "lines.linewidth": 1.2,
}


# --- plumbing -----------------------------------------------------------------------------------


@contextmanager
def _figure(height: float = FIGSIZE[1]) -> Iterator[Figure]:
    """A fresh Agg-backed figure; the style holds for drawing and saving, which both happen inside."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(FIGSIZE[0], height), dpi=DPI)
        FigureCanvasAgg(fig)
        yield fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # No "Software" chunk: the bytes then depend on the data only, not on the matplotlib version.
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.08, metadata={"Software": None})
    data = buf.getvalue()
    if len(data) > _PALETTE_ABOVE:
        data = _as_palette(data)
    return data


def _as_palette(data: bytes) -> bytes:
    """Re-encode as a 256-colour PNG: dense noisy traces (many chains, many draws) can pass 100 kB in
    full colour; a palette keeps them a fraction of that with no visible change at this size. No
    dithering, which would add speckle and bytes."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _short(text: Any, limit: int = _MAX_TEXT) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(ax: Axes, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None) -> None:
    if title is not None:
        ax.set_title(_short(title, _MAX_TITLE), parse_math=False)
    if xlabel is not None:
        ax.set_xlabel(_short(xlabel), parse_math=False)
    if ylabel is not None:
        ax.set_ylabel(_short(ylabel), parse_math=False)


def _legend(ax: Axes, handles: list[Any], labels: list[str], **kw: Any) -> None:
    """A legend from explicit handles and labels: explicit, so a user label starting with "_" is kept."""
    legend = ax.legend(handles, [_short(s) for s in labels], **kw)
    for text in legend.get_texts():
        text.set_parse_math(False)


def _no_data(ax: Axes, what: str = "no finite values") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color=GREY, parse_math=False)


def _floats(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


# --- small numerical helpers (tested directly) ----------------------------------------------------


def _ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks of a 1-D array, ties sharing their average rank (as rank plots expect)."""
    values = np.asarray(values).reshape(-1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (first + (counts - 1) / 2.0)[inverse.reshape(-1)]


def _binom_interval(n: int, p: float, level: float) -> tuple[int, int]:
    """Central `level` interval of a Binomial(n, p) count: the smallest k with cdf >= (1-level)/2 and
    the smallest with cdf >= (1+level)/2. Exact up to a few million counts; the pmf is built in log space by the ratio
    pmf(k+1)/pmf(k) = (n-k)/(k+1) * p/(1-p), so large n neither overflows nor needs lgamma per k."""
    if n <= 0:
        return 0, 0
    if p <= 0.0:
        return 0, 0
    if p >= 1.0:
        return n, n
    if n > _EXACT_BINOMIAL_MAX:  # the normal approximation is then off by well under one count
        z = NormalDist().inv_cdf((1.0 + level) / 2.0)
        mean, sd = n * p, math.sqrt(n * p * (1.0 - p))
        return max(0, math.floor(mean - z * sd)), min(n, math.ceil(mean + z * sd))
    k = np.arange(n, dtype=float)
    steps = np.log((n - k) / (k + 1.0)) + math.log(p / (1.0 - p))
    logpmf = np.concatenate([[0.0], np.cumsum(steps)])
    pmf = np.exp(logpmf - logpmf.max())
    cdf = np.cumsum(pmf) / pmf.sum()
    tail = (1.0 - level) / 2.0
    lo = int(np.searchsorted(cdf, tail - 1e-12, side="left"))
    hi = int(np.searchsorted(cdf, 1.0 - tail - 1e-12, side="left"))
    return lo, min(hi, n)


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` steps, skipping non-finite values; entry i covers values[i-window+1 .. i].

    Returns length T - window + 1; nan where a window holds no finite value."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    total = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    count = np.concatenate([[0], np.cumsum(finite)])
    s = total[window:] - total[:-window]
    c = count[window:] - count[:-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def _clipped_ylim(values: np.ndarray) -> tuple[float, float] | None:
    """y-limits from the 1st..99th percentile of the last 90% of a trace (padded by 10% of that range),
    or None when no finite value lies more than one such range beyond it: ordinary noise keeps the full
    range, while one huge early loss no longer flattens the part worth reading."""
    values = np.asarray(values, dtype=float)
    tail = values[..., values.shape[-1] // 10 :]
    tail = tail[np.isfinite(tail)]
    every = values[np.isfinite(values)]
    if tail.size < 2:
        return None
    lo, hi = (float(q) for q in np.percentile(tail, [1.0, 99.0]))
    width = hi - lo if hi > lo else max(abs(hi) * 0.05, 1e-9)
    if every.min() >= lo - width and every.max() <= hi + width:
        return None
    return lo - 0.1 * width, hi + 0.1 * width


def _shared_edges(pooled: np.ndarray) -> np.ndarray:
    """Even bins over the pooled range, their number by the Rice rule (2 n^(1/3)) within 10..60.

    Not numpy's "auto": its Freedman-Diaconis width follows the IQR, and a nearly constant bulk with a
    few far values would ask for millions of bins."""
    lo, hi = float(pooled.min()), float(pooled.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    count = int(np.clip(math.ceil(2.0 * pooled.size ** (1.0 / 3.0)), 10, _MAX_BINS))
    return np.linspace(lo, hi, count + 1)


def _kde(samples: np.ndarray, grid: np.ndarray, n_total: int) -> np.ndarray:
    """Gaussian KDE on an even grid by binning then convolving: cost O(len(grid)) whatever the sample size.

    Silverman's bandwidth, floored at two grid steps so near-constant data still draws a bump. The
    density is divided by `n_total` (not the in-grid count) so mass beyond the grid is not re-spread."""
    step = grid[1] - grid[0]
    if samples.size == 0:
        return np.zeros_like(grid)
    sd = samples.std()
    iqr = np.subtract(*np.percentile(samples, [75.0, 25.0]))
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    bw = max(0.9 * spread * samples.size ** (-0.2), 2.0 * step)
    edges = np.concatenate([grid - step / 2.0, [grid[-1] + step / 2.0]])
    counts, _ = np.histogram(samples, bins=edges)
    half = int(math.ceil(4.0 * bw / step))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / bw) ** 2) / (bw * math.sqrt(2.0 * math.pi))
    return np.convolve(counts, kernel, mode="full")[half : half + grid.size] / n_total


# --- figures ------------------------------------------------------------------------------------


def _per_chain(values: np.ndarray, what: str) -> np.ndarray:
    """Values as [chains, T]: one trace is one chain; `what` says what the caller takes, for the error."""
    values = _floats(values)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise ValueError(f"{what}, got shape {values.shape}")
    return values


def trace_and_rank(name: str, values: np.ndarray) -> bytes:
    """Trace per chain (left) and rank histogram per chain (right) for one scalar; values [chains, draws].

    Ranks are taken over all chains pooled, so a chain stuck apart from the others shows as a
    histogram far from flat even where its trace looks plausible."""
    values = _per_chain(values, "trace_and_rank expects values [chains, draws]")
    chains, draws = values.shape
    with _figure() as fig:
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2], "wspace": 0.28})
        steps = np.arange(draws)
        for c in range(chains):
            colour = CHAIN_COLOURS[c % len(CHAIN_COLOURS)]
            left.plot(
                steps,
                values[c],
                lw=0.6,
                alpha=0.8 if chains <= 4 else 0.55,
                color=colour,
                marker="o" if draws == 1 else None,
            )
        fig.suptitle(_short(name, _MAX_TITLE), parse_math=False, fontsize=10, fontweight="bold", y=1.0)
        _label(left, "trace per chain", "draw", "value")

        finite = np.isfinite(values)
        n_total = int(finite.sum())
        if n_total == 0:
            _no_data(right)
        else:
            ranks = np.full(values.shape, np.nan)
            ranks[finite] = _ranks(values[finite])
            nbins = max(1, min(int(np.clip(draws // 25, 5, 40)), n_total))
            edges = np.linspace(-0.5, n_total - 0.5, nbins + 1)
            per_chain = n_total / chains
            expected = per_chain / nbins
            noise = 2.0 * math.sqrt(per_chain * (1.0 / nbins) * (1.0 - 1.0 / nbins))
            right.axhspan(max(expected - noise, 0.0), expected + noise, color=GREY, alpha=0.15, lw=0)
            right.axhline(expected, color=INK, ls="--", lw=1.0)
            for c in range(chains):
                counts, _ = np.histogram(ranks[c][finite[c]], bins=edges)
                right.stairs(counts, edges, color=CHAIN_COLOURS[c % len(CHAIN_COLOURS)], lw=1.1, baseline=None)
            right.set_xlim(edges[0], edges[-1])
            right.set_ylim(bottom=0)
        _label(right, "ranks per chain (dashed: uniform)", "rank (all chains pooled)", "count")
        return _png(fig)


def predictive_1d(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_grid: np.ndarray,
    mean: np.ndarray,
    epistemic_sd: np.ndarray,
    aleatoric_sd: np.ndarray,
    xlabel: str,
    ylabel: str,
) -> bytes:
    """Predictive mean with a ±2 sd band split into its epistemic part (dark) and the total (light).

    The gap between the two bands is the noise the model attributes to the data; the dark band
    alone is what more data could shrink."""
    x_train, y_train, x_grid = _floats(x_train).reshape(-1), _floats(y_train).reshape(-1), _floats(x_grid).reshape(-1)
    mean, epi, alea = _floats(mean).reshape(-1), _floats(epistemic_sd).reshape(-1), _floats(aleatoric_sd).reshape(-1)
    total = np.sqrt(epi**2 + alea**2)
    with _figure() as fig:
        ax = fig.subplots()
        outer = ax.fill_between(x_grid, mean - 2 * total, mean + 2 * total, color=SKY, alpha=0.3, lw=0)
        inner = ax.fill_between(x_grid, mean - 2 * epi, mean + 2 * epi, color=BLUE, alpha=0.35, lw=0)
        (line,) = ax.plot(x_grid, mean, color=BLUE, lw=1.6)
        n = x_train.size
        dots = ax.scatter(
            x_train, y_train, s=9 if n < 500 else 3, color=INK, alpha=0.7 if n < 500 else 0.3, lw=0, zorder=3
        )
        _label(ax, "posterior predictive", xlabel, ylabel)
        _legend(
            ax,
            [dots, line, inner, outer],
            ["training data", "predictive mean", "epistemic (±2 sd)", "epistemic + aleatoric (±2 sd)"],
            loc="best",
        )
        return _png(fig)


def uncertainty_1d(x_grid: np.ndarray, epistemic_sd: np.ndarray, aleatoric_sd: np.ndarray, xlabel: str) -> bytes:
    """Epistemic and aleatoric sd against x: epistemic rising away from the data shows where the model
    knows little; aleatoric is the noise level it expects even where it knows a lot."""
    x = _floats(x_grid).reshape(-1)
    epi, alea = _floats(epistemic_sd).reshape(-1), _floats(aleatoric_sd).reshape(-1)
    with _figure() as fig:
        ax = fig.subplots()
        (total,) = ax.plot(x, np.sqrt(epi**2 + alea**2), color=GREY, lw=1.0, ls="--")
        (e,) = ax.plot(x, epi, color=BLUE, lw=1.6)
        (a,) = ax.plot(x, alea, color=ORANGE, lw=1.6)
        ax.set_ylim(bottom=0)
        _label(ax, "predictive uncertainty", xlabel, "sd")
        _legend(ax, [e, a, total], ["epistemic", "aleatoric", "total"], loc="best")
        return _png(fig)


def ppc(y_obs: np.ndarray, y_rep: np.ndarray, name: str, discrete: bool) -> bytes:
    """Posterior predictive check: does data replicated from the fitted model look like the data?

    Continuous data: a KDE of each replicated data set (thin) against the observed one (thick).
    Discrete data: observed frequency per value (bars) against the replicated frequencies' 5-95%
    range, which says whether the model puts the right mass on each count or label."""
    obs = _floats(y_obs).reshape(-1)
    rep = _floats(y_rep)
    rep = rep.reshape(rep.shape[0], -1) if rep.ndim >= 2 else rep.reshape(1, -1)
    if rep.shape[0] > 100:  # more lines add ink, not information
        rep = rep[np.linspace(0, rep.shape[0] - 1, 100).round().astype(int)]
    obs = obs[np.isfinite(obs)]
    with _figure() as fig:
        ax = fig.subplots()
        pooled = np.concatenate([obs, rep[np.isfinite(rep)]])
        if pooled.size == 0:
            _no_data(ax)
        elif discrete:
            _ppc_discrete(ax, obs, rep)
        else:
            _ppc_continuous(ax, obs, rep)
        _label(ax, f"posterior predictive check: {_short(name)}", name, "frequency" if discrete else "density")
        return _png(fig)


def _ppc_continuous(ax: Axes, obs: np.ndarray, rep: np.ndarray) -> None:
    finite_rep = rep[np.isfinite(rep)]
    # Range: all observed values, but only the central 99% of the replicates (heavy tails would squash it).
    lows = [np.percentile(finite_rep, 0.5)] if finite_rep.size else []
    highs = [np.percentile(finite_rep, 99.5)] if finite_rep.size else []
    lo = min([*lows, *([obs.min()] if obs.size else [])])
    hi = max([*highs, *([obs.max()] if obs.size else [])])
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    grid = np.linspace(lo - 0.1 * span, hi + 0.1 * span, 256)
    handles, labels = [], []
    curves = []
    for row in rep:
        row = row[np.isfinite(row)]
        if row.size:
            curves.append(_kde(row, grid, row.size))
            ax.plot(grid, curves[-1], color=SKY, lw=0.7, alpha=0.25)
    if curves:
        (rep_mean,) = ax.plot(grid, np.mean(curves, axis=0), color=ORANGE, lw=1.3, ls="--")
        handles += [Line2D([], [], color=SKY, lw=1.2), rep_mean]  # the faint lines make a faint legend key
        labels += [f"replicated ({len(curves)} draws)", "replicated mean"]
    if obs.size:
        (obs_line,) = ax.plot(grid, _kde(obs, grid, obs.size), color=INK, lw=2.0)
        handles.insert(0, obs_line)
        labels.insert(0, "observed")
    ax.set_ylim(bottom=0)
    _legend(ax, handles, labels, loc="best")


def _ppc_discrete(ax: Axes, obs: np.ndarray, rep: np.ndarray) -> None:
    finite_rep = rep[np.isfinite(rep)]
    values = np.unique(np.concatenate([obs, finite_rep]))
    rows = [r[np.isfinite(r)] for r in rep]
    if values.size <= 30:
        # One bar per value seen anywhere; positions are 0..K-1 so sparse labels (0, 1, 7) sit side by side.
        def freq(v: np.ndarray) -> np.ndarray:
            return np.bincount(np.searchsorted(values, v), minlength=values.size) / max(v.size, 1)

        x = np.arange(values.size, dtype=float)
        width = 0.8
        ax.set_xticks(x, [f"{v:g}" for v in values])
    else:
        # Wide count support: integer-aligned bins over the observed range plus the replicates' central 99%.
        lo = min(obs.min() if obs.size else np.inf, np.percentile(finite_rep, 0.5) if finite_rep.size else np.inf)
        hi = max(obs.max() if obs.size else -np.inf, np.percentile(finite_rep, 99.5) if finite_rep.size else -np.inf)
        edges = np.unique(np.floor(np.linspace(math.floor(lo), math.floor(hi) + 1, 31))) - 0.5

        def freq(v: np.ndarray) -> np.ndarray:
            return np.histogram(v, bins=edges)[0] / max(v.size, 1)

        x = (edges[:-1] + edges[1:]) / 2.0
        width = 0.8 * np.diff(edges)
    handles, labels = [], []
    top = 0.0
    if obs.size:
        top = float(np.max(freq(obs)))
        bars = ax.bar(x, freq(obs), width=width, color=SKY, alpha=0.8, lw=0)
        handles.append(bars)
        labels.append("observed")
    rep_freq = np.array([freq(r) for r in rows if r.size])
    if rep_freq.size:
        q5, q50, q95 = np.percentile(rep_freq, [5.0, 50.0, 95.0], axis=0)
        bars_err = ax.errorbar(
            x, q50, yerr=[q50 - q5, q95 - q50], fmt="o", ms=3.5, color=VERMILION, capsize=2.5, lw=1.1, zorder=3
        )
        handles.append(bars_err)
        labels.append(f"replicated median, 5-95% ({len(rep_freq)} draws)")
        top = max(top, float(np.max(q95)))
    ax.set_ylim(0.0, 1.3 * top if top > 0 else 1.0)  # headroom: the legend sits above the bars
    ax.grid(axis="x", visible=False)
    _legend(ax, handles, labels, loc="upper right")


def pit_hist(counts: np.ndarray, title: str) -> bytes:
    """PIT histogram with the uniform expectation and a 99% band per bin for a calibrated model.

    The band is the central 99% of a Binomial(N, 1/bins) count, per bar: with 10 bins about one
    calibrated figure in ten still has some bar outside it. A U shape means over-confidence, a hump
    under-confidence, a slope bias."""
    counts = _floats(counts).reshape(-1)
    bins = counts.size
    n = int(round(float(np.nansum(counts))))
    with _figure() as fig:
        ax = fig.subplots()
        if bins == 0:
            _no_data(ax, "no PIT values")
        else:
            edges = np.linspace(0.0, 1.0, bins + 1)
            # Translucent bars over the band: the band stays visible where a bar covers it.
            bars = ax.bar(
                edges[:-1], counts, width=1.0 / bins, align="edge", facecolor=SKY, alpha=0.6, edgecolor=BLUE, lw=0.8
            )
            handles, labels = [bars], [f"PIT counts (N = {n})"]
            top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 0.0
            if n > 0:
                lo, hi = _binom_interval(n, 1.0 / bins, 0.99)
                band = ax.axhspan(lo, hi, facecolor=GREY, alpha=0.3, lw=0, zorder=0.5)
                expected = ax.axhline(n / bins, color=INK, ls="--", lw=1.1, zorder=2.6)
                handles += [expected, band]
                labels += ["uniform expectation", "99% band if calibrated"]
                top = max(top, hi)
            ax.set_xlim(0.0, 1.0)
            ax.set_ylim(0.0, 1.3 * top if top > 0 else 1.0)
            _legend(ax, handles, labels, loc="upper center", ncols=3, fontsize=7)
        _label(ax, title, "PIT value", "count")
        return _png(fig)


def coverage(levels: Sequence[float], observed: Sequence[float]) -> bytes:
    """Observed central-interval coverage against the nominal level: points below the diagonal mean
    intervals too narrow (over-confident), above too wide."""
    levels_a, observed_a = _floats(list(levels)).reshape(-1), _floats(list(observed)).reshape(-1)
    order = np.argsort(levels_a)
    with _figure() as fig:
        ax = fig.subplots()
        (ideal,) = ax.plot([0.0, 1.0], [0.0, 1.0], color=GREY, ls="--", lw=1.0)
        (line,) = ax.plot(levels_a[order], observed_a[order], color=BLUE, marker="o", ms=5, lw=1.4)
        for lv, ob in zip(levels_a[order], observed_a[order]):
            if np.isfinite(lv) and np.isfinite(ob):
                ax.annotate(f"{ob:.2f}", (lv, ob), textcoords="offset points", xytext=(-4, 6), ha="right", fontsize=7)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        _label(ax, "interval coverage", "nominal level", "observed coverage")
        _legend(ax, [line, ideal], ["observed", "calibrated"], loc="upper left")
        return _png(fig)


def reliability(confidence: np.ndarray, accuracy: np.ndarray, count: np.ndarray, edges: np.ndarray) -> bytes:
    """Reliability diagram: accuracy per confidence bin against the diagonal, bin counts below.

    Bars under the diagonal are over-confident bins; the count panel says which bins matter (a
    wild bar over three rows is noise). Empty (nan) bins are skipped."""
    conf, acc = _floats(confidence).reshape(-1), _floats(accuracy).reshape(-1)
    cnt, edges = _floats(count).reshape(-1), _floats(edges).reshape(-1)
    widths = np.diff(edges)
    with _figure(height=4.2) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08})
        shown = np.isfinite(acc) & (cnt > 0)
        bars = top.bar(
            edges[:-1][shown], acc[shown], width=widths[shown], align="edge", color=SKY, edgecolor="white", lw=0.8
        )
        (diag,) = top.plot([edges[0], edges[-1]], [edges[0], edges[-1]], color=GREY, ls="--", lw=1.0)
        has_conf = shown & np.isfinite(conf)
        (dots,) = top.plot(conf[has_conf], acc[has_conf], "o", color=VERMILION, ms=4, zorder=3)
        top.set_ylim(0.0, 1.02)
        _label(top, "reliability diagram", None, "accuracy")
        _legend(
            top, [bars, dots, diag], ["accuracy per bin", "(mean confidence, accuracy)", "calibrated"], loc="upper left"
        )
        bottom.bar(edges[:-1], np.nan_to_num(cnt), width=widths, align="edge", color=GREY, edgecolor="white", lw=0.8)
        bottom.set_xlim(edges[0], edges[-1])
        _label(bottom, None, "confidence (top-label probability)", "rows")
        return _png(fig)


def curve(values: np.ndarray, title: str, ylabel: str, xlabel: str = "step") -> bytes:
    """A loss / ELBO or log-likelihood trace, [T] or [chains, T] (one line per chain).

    Long single traces get a running mean (window T/50) on top, and any trace whose early values
    lie far outside the rest has its y-range clipped to the 1st..99th percentile of the last 90%
    (noted in the corner), so a huge initial loss does not flatten the part worth reading."""
    values = _per_chain(values, "curve expects values [T] or [chains, T]")
    chains, steps = values.shape
    x = np.arange(steps)
    with _figure() as fig:
        ax = fig.subplots()
        if not np.isfinite(values).any():
            _no_data(ax)
        elif chains == 1:
            long = steps >= 200
            ax.plot(x, values[0], color=SKY if long else BLUE, lw=0.6 if long else 1.2, alpha=0.8 if long else 1.0)
            if long:
                window = max(2, steps // 50)
                ax.plot(x[window - 1 :], _running_mean(values[0], window), color=BLUE, lw=1.6)
                ax.text(
                    0.99,
                    0.99,
                    f"running mean, window {window}",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=7,
                    color=BLUE,
                )
        else:
            for c in range(chains):
                ax.plot(x, values[c], lw=0.7, alpha=0.85, color=CHAIN_COLOURS[c % len(CHAIN_COLOURS)])
        limits = _clipped_ylim(values) if steps >= 20 else None
        if limits is not None:
            ax.set_ylim(*limits)
            ax.text(
                0.99,
                0.02,
                "y-range clipped (1st-99th pct. of last 90%)",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
                color=GREY,
            )
        ax.set_xlim(0, max(steps - 1, 1))
        _label(ax, title, xlabel, ylabel)
        return _png(fig)


def histogram_pairs(a: np.ndarray, b: np.ndarray, label_a: str, label_b: str, title: str, xlabel: str) -> bytes:
    """Two overlaid density-normalised histograms on shared bins, e.g. epistemic sd on the test set
    against an out-of-distribution set: a model that knows what it does not know shifts the second right."""
    a, b = _floats(a).reshape(-1), _floats(b).reshape(-1)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    with _figure() as fig:
        ax = fig.subplots()
        pooled = np.concatenate([a, b])
        if pooled.size == 0:
            _no_data(ax)
        else:
            edges = _shared_edges(pooled)
            handles, labels = [], []
            for data, label, colour in ((a, label_a, BLUE), (b, label_b, ORANGE)):
                if data.size == 0:
                    continue
                ax.hist(data, bins=edges, density=True, histtype="stepfilled", color=colour, alpha=0.3, lw=0)
                _, _, patches = ax.hist(data, bins=edges, density=True, histtype="step", color=colour, lw=1.3)
                handles.append(patches[0])
                labels.append(f"{_short(label)} (n = {data.size})")
            _legend(ax, handles, labels, loc="best")
        _label(ax, title, xlabel, "density")
        return _png(fig)
