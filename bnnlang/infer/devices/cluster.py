"""The processes of a multi-host run, from flags or environment: checked before JAX starts.

Kept free of JAX imports: `bnnc run` reads the cluster and refuses bad launches
before it sets JAX's device count, which must happen before JAX is first imported
(`distributed` does the JAX side).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ...check.backends import BACKENDS
from .. import messages

ENV_COORDINATOR = "BNNLANG_COORDINATOR"
ENV_NUM_PROCESSES = "BNNLANG_NUM_PROCESSES"
ENV_PROCESS_ID = "BNNLANG_PROCESS_ID"
AUTO = "auto"  # --coordinator auto: let JAX read the cluster launcher's environment (SLURM, Open MPI, ...)


@dataclass(frozen=True)
class Cluster:
    """Where this process sits among the processes of one run; None fields are left to JAX to detect."""

    coordinator: str | None  # HOST:PORT of process 0's coordination service
    num_processes: int | None
    process_id: int | None

    @property
    def auto(self) -> bool:
        return self.coordinator is None


def cluster_from(
    coordinator: str | None = None,
    num_processes: int | str | None = None,
    process_id: int | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Cluster | None:
    """The cluster the flags (or, where a flag is missing, the BNNLANG_* variables) describe; None: one process.

    Refuses half-given or inconsistent settings before JAX starts, so a
    mistyped launch fails at once instead of waiting for peers that never come.
    """
    env = os.environ if environ is None else environ
    coordinator = coordinator if coordinator is not None else env.get(ENV_COORDINATOR) or None
    num = num_processes if num_processes is not None else env.get(ENV_NUM_PROCESSES) or None
    pid = process_id if process_id is not None else env.get(ENV_PROCESS_ID) or None
    if coordinator is None and num is None and pid is None:
        return None
    if coordinator == AUTO:
        if num is not None or pid is not None:
            raise messages.auto_with_counts()
        return Cluster(None, None, None)
    missing = [
        n for n, v in (("--coordinator", coordinator), ("--num-processes", num), ("--process-id", pid)) if v is None
    ]
    if missing:
        raise messages.cluster_incomplete(missing)
    assert coordinator is not None
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise messages.bad_coordinator(coordinator)
    n, i = _int("--num-processes", num), _int("--process-id", pid)
    if n < 1:
        raise messages.too_few_processes(n)
    if not 0 <= i < n:
        raise messages.bad_process_id(i, n)
    if n == 1:
        return None
    return Cluster(coordinator, n, i)


def _int(flag: str, value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise messages.not_a_whole_number(flag, value) from None


def check_split(method: str, chains: int, num_processes: int | None) -> None:
    """Refuse, before anything runs, a run that cannot be split evenly over the processes."""
    if not num_processes or num_processes == 1:
        return
    if not BACKENDS[method].multi_process:
        multi = [name for name, b in BACKENDS.items() if b.multi_process]
        raise messages.single_process_backend(method, num_processes, multi)
    if chains % num_processes:
        raise messages.uneven_chains(chains, num_processes)
