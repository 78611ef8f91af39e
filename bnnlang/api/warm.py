"""`init = previous run`: a run that starts from a previous run's posterior, as the API and the CLI take it.

    first = model.run("d.csv", out="runs/a")
    update = model.run("d_more.csv", init=first)          # or init="runs/a"; bnnc run ... --init-from runs/a

What this module decides, before anything is sampled: whether `init` names a previous run (a `Run`, a path, or a
string naming a folder; one of the backend's `init` words is that setting), whether the backend can start from
one, the short warmup such a run takes, and whether the previous run is of the same model: the same sites with
the same shapes (the data may have other rows). How the chains then start is `infer/warm.py`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..check.backends import BACKENDS
from ..check.settings import InferSettings, warm_warmup
from . import messages
from .run import Run

if TYPE_CHECKING:
    from ..infer.problem import Problem, WarmStart


def is_previous_run(init: Any) -> bool:
    """Whether an `init` argument names a previous run rather than a setting's word (uniform, ensemble, map)."""
    if isinstance(init, Run | os.PathLike):
        return True
    return isinstance(init, str) and ("/" in init or os.sep in init or Path(init).is_dir())


def previous_run(init: Any, model_from_source: Callable[[str, str, Path | None], Any]) -> Run:
    """The previous run an `init` argument names, read from its directory (as `bnnlang.open_run` reads it, its model
    checked by `model_from_source`) unless it is a `Run` already."""
    return init if isinstance(init, Run) else Run.read(init, model_from_source)


def warm_settings(settings: InferSettings, overrides: dict[str, Any]) -> InferSettings:
    """The settings of a run that starts from a previous run: refused for a backend that cannot, and with a short
    warmup unless the run was given one (a warmup written in the model sizes a cold run, not an update)."""
    if not settings.backend.warm_starts:
        raise messages.warm_start_unsupported(settings.method, [n for n, b in BACKENDS.items() if b.warm_starts])
    if overrides.get("warmup") is not None or "warmup" not in settings.values:
        return settings
    return settings.with_overrides({"warmup": warm_warmup(settings.method)})


def digest(run: Run) -> str:
    """A short digest of the previous run's draws: names it when it has no directory, and ties a record to it."""
    h = hashlib.sha256()
    post = run.idata.posterior
    for name in sorted(post.data_vars):
        h.update(name.encode())
        h.update(post[name].values.tobytes())
    return h.hexdigest()[:16]


def label(run: Run) -> str:
    """How messages and records name the previous run: its directory, or its digest."""
    return str(run.path) if run.path is not None else f"in memory, draws {digest(run)}"


def record(run: Run) -> dict[str, Any]:
    """settings.json's record of where a warm-started run started: the previous run's folder and draws' digest."""
    return {
        "from": str(run.path) if run.path is not None else None,
        "digest": digest(run),
        "backend": run.record.backend,
    }


def warm_start(problem: Problem, run: Run) -> WarmStart:
    """What the backend takes from the previous run, after checking it is a run of the same model."""
    import numpy as np

    from ..infer.problem import WarmStart

    check_same_sites(problem, run)
    idata = run.idata
    draws = {k: np.asarray(v.values) for k, v in idata.posterior.data_vars.items()}
    # what each chain's tuning ended at; the backend that ran uses them only if it is the same (`tuned_by`)
    step_size = None
    if "sample_stats" in idata.groups() and "step_size" in idata.sample_stats:
        step_size = np.asarray(idata.sample_stats["step_size"].values[:, -1], np.float64)
    L = run.summary.get("run", {}).get("L")  # MCLMC's L per member (MILE)
    L = np.asarray(L, np.float64) if L is not None else None
    if run.record.settings.get("preconditioning"):  # tuned in rescaled coordinates: they do not carry over
        step_size = L = None
    return WarmStart(draws, run.record.backend, label(run), step_size, L, fixed_of(run))


def fixed_of(run: Run) -> dict[str, Any]:
    """The previous run's point-estimated sites (partially Bayesian networks), empty when it had none."""
    import numpy as np

    from ..posterior.predict import fixed_values

    return {k: np.asarray(v) for k, v in fixed_values(run.idata).items()}


def check_same_sites(problem: Problem, run: Run) -> None:
    """Refuse a previous run whose sites differ from this program's: other names, other shapes, or a site sampled
    in one and held fixed (point-estimated) in the other."""
    differences = site_differences(problem, run)
    if differences:
        path = str(run.path) if run.path is not None else None
        raise messages.warm_start_other_model(path, label(run), differences)


def site_differences(problem: Problem, run: Run) -> list[str]:
    """Each way the previous run's sites differ from this program's, as a phrase of the message."""
    from ..infer.warm import sampled_sites

    here = sampled_sites(problem)
    roles_here = {k: "held fixed" if k in problem.deterministic else "sampled" for k in here}
    post = run.idata.posterior
    there = {k: tuple(post[k].shape[2:]) for k in post.data_vars}
    roles_there = dict.fromkeys(there, "sampled")
    for k, v in fixed_of(run).items():
        there[k], roles_there[k] = tuple(v.shape), "held fixed"
    out = []
    for site in sorted(set(here) | set(there)):
        if site not in there:
            out.append(messages.site_missing_there(site))
        elif site not in here:
            out.append(messages.site_missing_here(site))
        elif there[site] != here[site]:
            out.append(messages.site_other_shape(site, there[site], here[site]))
        elif roles_there[site] != roles_here[site]:
            out.append(messages.site_other_role(site, roles_there[site], roles_here[site]))
    return out
