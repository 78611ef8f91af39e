"""Chains (or ensemble members) over the local JAX devices: each device runs a block of them, vmapped.

SG-HMC, ensemble fits and MILE all map one function over chains; `on_devices`
splits the chain axis over devices with `shard_map`, padding the chain count
to a multiple of the devices used (padding chains repeat a real one and are dropped).

Within a device the chains are vmapped, except where the program calls LAPACK
(Cholesky and triangular solves of GP terms): jaxlib 0.10's CPU LAPACK kernels
hand a batch's items to XLA's intra-op thread pool and block until they finish,
so two devices each running a batched solve on a pool of two threads wait on each
other for ever. There the chains of a device run one after another (`lax.map`),
which makes every LAPACK call unbatched, and unbatched calls run inline.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P


def chain_layout(chains: int, devices: int) -> tuple[int, int]:
    """(devices to use, padded chain count): fewest sequential rounds, then fewest padded chains."""
    best = (1, chains)
    for k in range(1, min(chains, devices) + 1):
        padded = k * math.ceil(chains / k)
        if (padded // k, padded) < (best[1] // best[0], best[1]):
            best = (k, padded)
    return best


def chain_mesh(chains: int) -> tuple[Mesh, int, int]:
    """(mesh over the devices used, devices used, padded chain count) for `chains` chains."""
    n_dev, padded = chain_layout(chains, jax.local_device_count())
    return Mesh(np.array(jax.local_devices()[:n_dev]), ("chain",)), n_dev, padded


def on_devices(fn, mesh: Mesh, n_dev: int, in_axes: tuple, donate: bool = False):
    """Jit `fn` mapped over chains (`in_axes`: 0 = per chain, None = shared), the chain axis split over devices."""
    donate_argnums = (0,) if donate else ()
    vmapped = jax.vmap(fn, in_axes=in_axes)
    if n_dev == 1:
        return jax.jit(vmapped, donate_argnums=donate_argnums)
    specs = tuple(P("chain") if a == 0 else P() for a in in_axes)

    def sharded(per_device):
        return jax.jit(
            jax.shard_map(per_device, mesh=mesh, in_specs=specs, out_specs=P("chain"), check_vma=False),
            donate_argnums=donate_argnums,
        )

    def looped(*args):
        """The device's chains one after another: every LAPACK call in `fn` sees one chain."""
        per_chain = [a for a, axis in zip(args, in_axes) if axis == 0]

        def one(xs):
            it = iter(xs)
            return fn(*[next(it) if axis == 0 else a for a, axis in zip(args, in_axes)])

        return jax.lax.map(one, per_chain)

    choice: dict[str, object] = {}

    def call(*args):
        if "fn" not in choice:  # decided once, from the lowered program (traced, not compiled)
            fast = sharded(vmapped)
            choice["fn"] = sharded(looped) if calls_lapack(fast.lower(*args).as_text()) else fast
        return choice["fn"](*args)

    return call


def calls_lapack(program: str) -> bool:
    """Whether a lowered program calls jaxlib's CPU LAPACK kernels (custom calls named lapack_*)."""
    return "custom_call @lapack_" in program


def pad_chains(x: np.ndarray, padded: int) -> np.ndarray:
    """Repeat the first chain's row to fill the padding chains (their results are thrown away)."""
    extra = padded - x.shape[0]
    return x if extra == 0 else np.concatenate([x, np.repeat(x[:1], extra, axis=0)])
