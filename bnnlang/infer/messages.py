"""The inference stage's messages: what a run can find wrong before it starts and while it runs.

None of these has a place in a file (they come from settings, the machine or the sampler), so they are
`UsageError`s: exit 2, a message and a hint. Wording lives only here (stanc3's Semantic_error is the model).
"""

from __future__ import annotations

from ..errors import UsageError

STANDARDISE = "check the priors' scales and the data's units (standardise)"


def cannot_minibatch(method: str) -> UsageError:
    return UsageError(
        f"Setting 'batch_size' of {method}: this model cannot be cut into minibatches.",
        "Minibatches need one observation plate shared by all observed data and no per-row parameters; "
        "set batch_size = 0 (full data).",
    )


def batch_too_large(method: str, requested: int, dim: str, size: int) -> UsageError:
    return UsageError(
        f"Setting 'batch_size' of {method} is {requested}, larger than the {size} rows of data ({dim} = {size}).",
        f"Use batch_size between 1 and {size}, or 0 for the backend's default.",
    )


# -- starts ------------------------------------------------------------------------------------------------


def map_diverged(final: float, step: int, steps: int) -> UsageError:
    return UsageError(
        f"The MAP fit diverged: the loss became {final} at step {step} of {steps}.",
        f"Lower the learning rate, or {STANDARDISE}.",
    )


def restarts_diverged(chain: int) -> UsageError:
    return UsageError(
        f"The MAP fits that start SG-HMC chain {chain} all diverged.",
        f"Start from random values with init = uniform, or {STANDARDISE}.",
    )


def ensemble_cannot_minibatch() -> UsageError:
    return UsageError(
        "Ensemble fits with minibatches need a model that can be cut into rows.", "Set batch_size = 0 (full data)."
    )


def member_diverged(member: int, step: int, steps: int, lr: float) -> UsageError:
    return UsageError(
        f"Ensemble member {member} diverged: its training loss became infinite or NaN at step {step} of {steps}.",
        f"Lower the learning rate (now {lr:g}; try {lr / 10:g}), or {STANDARDISE}.",
    )


# -- before a run --------------------------------------------------------------------------------------------


def out_of_memory(
    needed: str, available: str, params: int, chains: int, per_chain: int, nbytes: int, copies: int, hint: str
) -> UsageError:
    return UsageError(
        f"This run needs at least {needed} of memory but {available} is available: "
        f"{params:,} parameters x {chains} chain(s) x {per_chain:,} stored draws x {nbytes} bytes, plus "
        f"{copies} working copies of the parameters per chain.",
        hint,
    )


def network_too_large(site: str, size: int) -> str:
    return f"The network is too large for this machine: `{site}` alone has {size:,} parameters. Check the layer widths."


def fewer_draws(fit: int, site: str, size: int) -> str:
    return (
        f"Keep fewer draws (e.g. --set samples={fit}, or a larger thinning) or fewer chains; "
        f"`{site}` is the largest site ({size:,} parameters)."
    )


def nothing_to_sample(method: str) -> UsageError:
    return UsageError(
        f"Every parameter of this model is in a deterministic block: nothing is left for {method} to sample.",
        "Take the last layer out of the deterministic block (a Bayesian last layer), "
        "or use `infer svi(guide = map)` for a point estimate of everything.",
    )


# -- SG-HMC ------------------------------------------------------------------------------------------------


def sghmc_curvature(chain: int) -> UsageError:
    return UsageError(
        f"The curvature at the start of SG-HMC chain {chain} is not finite, so no step size can be set.",
        f"{STANDARDISE[0].upper() + STANDARDISE[1:]}, or start with init = uniform.",
    )


def sghmc_diverged(chain: int, step: int, step_size: float) -> UsageError:
    return UsageError(
        f"SG-HMC chain {chain} diverged: the potential became infinite or NaN at step {step}.",
        f"Use a smaller step_size (now {step_size:g}; try {step_size / 10:g}), or more friction.",
    )


# -- SVI ---------------------------------------------------------------------------------------------------


def svi_bad_guide(guide: str, guides: tuple[str, ...]) -> UsageError:
    return UsageError(
        f"Setting 'guide' of svi must be one of {', '.join(guides)}; got '{guide}'.",
        "normal (mean-field), lowrank, map (point estimate) or laplace.",
    )


def svi_bad_lr(lr: float) -> UsageError:
    return UsageError(f"Setting 'lr' of svi must be a number > 0; got {lr}.", "Try lr = 0.01.")


def svi_diverged(label: str, loss: float, step: int, steps: int) -> UsageError:
    return UsageError(
        f"SVI diverged ({label}): the loss became {loss} at step {step} of {steps}.",
        f"Lower the learning rate (setting lr), or {STANDARDISE}.",
    )


def laplace_too_large(size: int, limit: int) -> UsageError:
    return UsageError(
        f"The laplace guide needs the dense Hessian of all {size} parameters; the limit is {limit}.",
        "Use guide = lowrank (or normal) for a model this size.",
    )


# -- MILE --------------------------------------------------------------------------------------------------


def mile_one_parameter() -> UsageError:
    return UsageError(
        "MILE needs at least two parameters to sample (MCLMC moves on a sphere of momenta).",
        "Use nuts for a one-parameter model.",
    )


def mile_start_not_finite(member: int) -> UsageError:
    return UsageError(
        f"MILE member {member} starts where the log density is not finite: its chain could not move.",
        f"{STANDARDISE[0].upper() + STANDARDISE[1:]}, or lower lr.",
    )


def mile_tuning_collapsed(member: int, warmup: int, step_size: float, L: float) -> UsageError:
    return UsageError(
        f"MCLMC tuning of MILE member {member} collapsed after {warmup} steps "
        f"(step size {step_size:.3g}, L {L:.3g}): its chain would not move.",
        "Raise warmup, lower lr (the tuning starts from it), or standardise the data and check the priors' scales.",
    )


def mile_not_finite(member: int) -> UsageError:
    return UsageError(
        f"MILE member {member} produced a non-finite log density while sampling.",
        f"{STANDARDISE[0].upper() + STANDARDISE[1:]}, or lower desired_energy_var.",
    )


# -- devices and clusters ------------------------------------------------------------------------------------

CLUSTER_ENV = "BNNLANG_COORDINATOR, BNNLANG_NUM_PROCESSES, BNNLANG_PROCESS_ID"


def auto_with_counts() -> UsageError:
    return UsageError(
        "--coordinator auto takes the process count and id from the cluster launcher.",
        "Drop --num-processes and --process-id, or give the coordinator as HOST:PORT.",
    )


def cluster_incomplete(missing: list[str]) -> UsageError:
    return UsageError(
        f"A multi-process run needs --coordinator, --num-processes and --process-id; {', '.join(missing)} missing.",
        f"Give all three (or {CLUSTER_ENV}), or --coordinator auto under SLURM or mpirun.",
    )


def bad_coordinator(coordinator: str) -> UsageError:
    return UsageError(
        f"--coordinator must be HOST:PORT, got '{coordinator}'.",
        "e.g. --coordinator node01:12345 (the same on every process), or --coordinator auto.",
    )


def too_few_processes(n: int) -> UsageError:
    return UsageError(f"--num-processes must be at least 1, got {n}.", "e.g. --num-processes 2")


def bad_process_id(i: int, n: int) -> UsageError:
    return UsageError(
        f"--process-id must be between 0 and {n - 1} (--num-processes is {n}), got {i}.",
        "Number the processes 0, 1, ..., num-processes - 1; process 0 writes the run directory.",
    )


def not_a_whole_number(flag: str, value: object) -> UsageError:
    return UsageError(f"{flag} must be a whole number, got '{value}'.", f"e.g. {flag} 2")


def single_process_backend(method: str, processes: int, multi: list[str]) -> UsageError:
    return UsageError(
        f"{method} runs on one process; this run has --num-processes {processes}.",
        f"Use {' or '.join(multi)} for multi-host runs (chains are split over the processes), "
        f"or run {method} on one host.",
    )


def uneven_chains(chains: int, processes: int) -> UsageError:
    suggest = processes * max(1, round(chains / processes))
    return UsageError(
        f"chains = {chains} cannot be split evenly over --num-processes {processes}.",
        f"Use a multiple of {processes} chains (e.g. --chains {suggest}) "
        f"or a number of processes that divides {chains}.",
    )


def no_cluster_found(reason: str) -> UsageError:
    return UsageError(
        f"--coordinator auto found no cluster launcher to read the processes from ({reason}).",
        "Start bnnc under srun (SLURM) or mpirun (Open MPI), or give --coordinator HOST:PORT, "
        "--num-processes and --process-id.",
    )


def cluster_unreachable(processes: int, coordinator: str, timeout: int, reason: str) -> UsageError:
    return UsageError(
        f"Could not join the run's {processes} processes through {coordinator} within {timeout} s ({reason}).",
        "Start every process with the same --coordinator (process 0's host) and --num-processes, "
        "each with its own --process-id, and check that the port is reachable from every host.",
    )


def platform_unavailable(platforms: str, reason: str) -> UsageError:
    """JAX could not start the platform JAX_PLATFORMS asks for (a GPU build not installed, no device)."""
    wanted = [p.strip() for p in platforms.split(",") if p.strip()]
    fix = "unset JAX_PLATFORMS (or set it to cpu) to run on the CPU"
    if any(p in ("cuda", "gpu") for p in wanted):
        fix = "install JAX's CUDA build on a machine with an NVIDIA GPU: pip install -U 'jax[cuda12]'; or " + fix
    elif "rocm" in wanted:
        fix = "install JAX's ROCm build on a machine with an AMD GPU (see JAX's installation guide); or " + fix
    elif "tpu" in wanted:
        fix = "install JAX's TPU build on a TPU host: pip install -U 'jax[tpu]'; or " + fix
    return UsageError(
        f"JAX could not start the platform JAX_PLATFORMS={platforms} asks for{': ' + reason if reason else ''}.",
        fix[0].upper() + fix[1:] + ".",
    )


# -- warm starts ---------------------------------------------------------------------------------------------


def warm_start_outside_support(source: str, site: str) -> UsageError:
    return UsageError(
        f"The draws of `{site}` in the previous run ({source}) lie outside what this model allows for it.",
        "Warm starts need a previous run of the same model (the same priors' supports); start this run cold.",
    )


def warm_start_not_finite(source: str, chain: int, previous: int) -> UsageError:
    return UsageError(
        f"Chain {chain} would start where this model's log density is not finite: at the last draw of chain "
        f"{previous} of the previous run ({source}).",
        "The new data rule out the previous posterior; start this run cold.",
    )
