"""Chains (or ensemble members) over the local JAX devices: each device runs a block of them, vmapped.

SG-HMC, ensemble fits and MILE all map one function over chains; `on_devices`
splits the chain axis over devices with `shard_map`, padding the chain count
to a multiple of the devices used (padding chains repeat a real one and are dropped).
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
    """Jit `fn` vmapped over chains (`in_axes`: 0 = per chain, None = shared), the chain axis split over devices."""
    mapped = jax.vmap(fn, in_axes=in_axes)
    if n_dev > 1:
        specs = tuple(P("chain") if a == 0 else P() for a in in_axes)
        mapped = jax.shard_map(mapped, mesh=mesh, in_specs=specs, out_specs=P("chain"), check_vma=False)
    return jax.jit(mapped, donate_argnums=(0,) if donate else ())


def pad_chains(x: np.ndarray, padded: int) -> np.ndarray:
    """Repeat the first chain's row to fill the padding chains (their results are thrown away)."""
    extra = padded - x.shape[0]
    return x if extra == 0 else np.concatenate([x, np.repeat(x[:1], extra, axis=0)])
