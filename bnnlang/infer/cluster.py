"""The processes of a multi-host run, from flags or environment: checked before JAX starts.

Kept free of JAX imports: `bnnc run` reads the cluster and refuses bad launches
before it sets JAX's device count, which must happen before JAX is first imported
(`bnnlang.infer.distributed` does the JAX side).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import BnnError, Location

ENV_COORDINATOR = "BNNLANG_COORDINATOR"
ENV_NUM_PROCESSES = "BNNLANG_NUM_PROCESSES"
ENV_PROCESS_ID = "BNNLANG_PROCESS_ID"
AUTO = "auto"  # --coordinator auto: let JAX read the cluster launcher's environment (SLURM, Open MPI, ...)
WHERE = Location("<command line>", 0)


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
            raise BnnError(
                "--coordinator auto takes the process count and id from the cluster launcher.",
                WHERE,
                hint="Drop --num-processes and --process-id, or give the coordinator as HOST:PORT.",
            )
        return Cluster(None, None, None)
    missing = [
        n for n, v in (("--coordinator", coordinator), ("--num-processes", num), ("--process-id", pid)) if v is None
    ]
    if missing:
        raise BnnError(
            f"A multi-process run needs --coordinator, --num-processes and --process-id; {', '.join(missing)} missing.",
            WHERE,
            hint=f"Give all three (or {ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, {ENV_PROCESS_ID}), "
            "or --coordinator auto under SLURM or mpirun.",
        )
    assert coordinator is not None
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BnnError(
            f"--coordinator must be HOST:PORT, got '{coordinator}'.",
            WHERE,
            hint="e.g. --coordinator node01:12345 (the same on every process), or --coordinator auto.",
        )
    n, i = _int("--num-processes", num), _int("--process-id", pid)
    if n < 1:
        raise BnnError(f"--num-processes must be at least 1, got {n}.", WHERE, hint="e.g. --num-processes 2")
    if not 0 <= i < n:
        raise BnnError(
            f"--process-id must be between 0 and {n - 1} (--num-processes is {n}), got {i}.",
            WHERE,
            hint="Number the processes 0, 1, ..., num-processes - 1; process 0 writes the run directory.",
        )
    if n == 1:
        return None
    return Cluster(coordinator, n, i)


def _int(flag: str, value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BnnError(f"{flag} must be a whole number, got '{value}'.", WHERE, hint=f"e.g. {flag} 2") from None


def check_split(method: str, chains: int, num_processes: int | None) -> None:
    """Refuse, before anything runs, a run that cannot be split evenly over the processes."""
    if not num_processes or num_processes == 1:
        return
    if method == "svi":
        raise BnnError(
            f"svi runs on one process; this run has --num-processes {num_processes}.",
            WHERE,
            hint="Use sghmc or nuts for multi-host runs (chains are split over the processes), or run svi on one host.",
        )
    if chains % num_processes:
        suggest = num_processes * max(1, round(chains / num_processes))
        raise BnnError(
            f"chains = {chains} cannot be split evenly over --num-processes {num_processes}.",
            WHERE,
            hint=f"Use a multiple of {num_processes} chains (e.g. --chains {suggest}) "
            f"or a number of processes that divides {chains}.",
        )
