"""The code convolutions and pools compile to: gather each output's window of inputs with strided slices, then
one matrix product (a convolution) or one reduction (a pool).

Why not `jax.lax.conv_general_dilated` and `reduce_window`: on the CPU, XLA runs them many times slower inside
the compiled loops every sampler is (a scan of gradient steps) than in a single call (jax-ml/jax#12868, open on
jax 0.10.2); a matrix product does not slow down. Measured in `benchmarks/results/layers_speed.md` (the same
networks written with `lax.conv_general_dilated`, side by side).
"""

from __future__ import annotations

TAPS = '''def _taps(h, k, stride, padding, dilation, dims, fill=0.0):
    """The k ** dims strided views of h [rows, *sizes, C] that a window of k taps (`dilation` apart along each
    of the `dims` axes) reads, each [rows, *out, C]. "SAME" pads as TensorFlow and lax.conv do, with `fill`."""
    import itertools  # here, not at the top: only programs with windows need it

    span = dilation * (k - 1) + 1
    sizes = h.shape[1 : 1 + dims]
    if padding == "SAME":
        out = [-(-n // stride) for n in sizes]
        pads = [max((o - 1) * stride + span - n, 0) for o, n in zip(out, sizes)]
        h = jnp.pad(h, [(0, 0)] + [(p // 2, p - p // 2) for p in pads] + [(0, 0)], constant_values=fill)
    else:
        out = [(n - span) // stride + 1 for n in sizes]
    taps = []
    for offsets in itertools.product(range(k), repeat=dims):
        window = tuple(slice(o * dilation, o * dilation + (m - 1) * stride + 1, stride) for o, m in zip(offsets, out))
        taps.append(h[(slice(None),) + window])
    return taps
'''

CONV = '''def _conv(h, w, stride, padding, dilation, groups):
    """Convolution, channels last, w [k, (k,) C / groups, F]: every tap's input side by side, times the kernel."""
    dims, k, filters = w.ndim - 2, w.shape[0], w.shape[-1]
    taps = _taps(h, k, stride, padding, dilation, dims)
    if groups == 1:
        return jnp.concatenate(taps, axis=-1) @ w.reshape(-1, filters)
    patches = jnp.stack(taps, axis=-2)  # [rows, *out, taps, C], then C split into its groups
    patches = patches.reshape(patches.shape[:-1] + (groups, patches.shape[-1] // groups))
    kernel = w.reshape((k**dims, w.shape[-2], groups, filters // groups))
    out = jnp.einsum("...tgc,tcgf->...gf", patches, kernel)
    return out.reshape(out.shape[:-2] + (filters,))
'''

POOL = '''def _pool(h, k, stride, padding, dims, kind):
    """The maximum or the mean over each window, per channel; a "SAME" mean counts only values inside h."""
    if kind == "max":
        taps = _taps(h, k, stride, padding, 1, dims, -jnp.inf)
        out = taps[0]
        for tap in taps[1:]:
            out = jnp.maximum(out, tap)
        return out
    total = sum(_taps(h, k, stride, padding, 1, dims))
    if padding == "VALID":
        return total / k**dims
    return total / sum(_taps(jnp.ones_like(h), k, stride, padding, 1, dims))
'''
