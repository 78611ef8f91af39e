"""What a gradient of the compiled CNN and transformer costs against the same networks written by hand in JAX,
and what one SG-HMC step of each holds in memory at batch 128 (issue 22, item 4).

Both potentials are the negative log joint of the same model on a minibatch of 128 rows, on the unconstrained
vector the samplers move: bnnlang's is `Problem.potential` (the generated NumPyro program under NumPyro's
handlers, as every backend calls it), the hand-written one is plain `jax.numpy`/`jax.lax` with the same
priors and likelihood (checked equal to float tolerance before timing). Each is `jit(value_and_grad)` inside
a `lax.scan` of STEPS steps that also draws the minibatch and moves the position a hair, so nothing is hoisted;
the two take turns within each round and the median per gradient is reported, compilation excluded. One JAX
CPU device (per-chain cost).

Models (`CNN` and `TRANSFORMER` below): a 1-D CNN on MNIST-1D's shape ([40, 1] -> conv1d(32, 5, relu) ->
conv1d(32, 5, relu, stride 2) -> maxpool(2) -> flatten -> dense(64, relu) -> dense(10)), and a token
transformer ([16] ids in 0..31 -> embedding(32, 32) -> positions -> transformer(2 heads, hidden 64) ->
globalavgpool -> dense(2)). Memory: XLA's compiled temporary buffers for one SG-HMC-sized step (gradient of the
minibatch potential), from `compiled.memory_analysis()`, for each.

    python benchmarks/layers_speed.py            # 5 rounds; writes benchmarks/results/layers_speed.md
    python benchmarks/layers_speed.py --quick    # 2 rounds, shorter loops (under a minute)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ["XLA_FLAGS"] = " ".join(
    [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    + ["--xla_force_host_platform_device_count=1"]
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import facts, provenance  # noqa: E402

from bnnlang.api import Model  # noqa: E402

BATCH = 128
ROWS = 1024
TARGET = 1.1  # the bound on compiled / hand-written time per gradient
LOG_2PI = math.log(2 * math.pi)

CNN = """
data {
  x: real[N, 40, 1]
  y: int[N] in 0..9
}
network cnn(x) -> real[N, 10] {
  conv1d(32, 5, relu)
  conv1d(32, 5, relu, stride = 2)
  maxpool(2)
  flatten
  dense(64, relu)
  dense(10)
}
observe y ~ Categorical(logits = cnn(x))
infer sghmc(batch_size = 128)
"""

TRANSFORMER = """
data {
  tokens: int[N, 16] in 0..31
  y: int[N] in 0..1
}
network tr(tokens) -> real[N, 2] {
  embedding(32, 32)
  positions(learned)
  transformer(heads = 2, hidden = 64)
  globalavgpool
  dense(2)
}
observe y ~ Categorical(logits = tr(tokens))
infer sghmc(batch_size = 128)
"""


def normal_lp(w: jnp.ndarray, sd: float) -> jnp.ndarray:
    return jnp.sum(-0.5 * (w / sd) ** 2 - math.log(sd) - 0.5 * LOG_2PI)


def weights_lp(p: dict[str, jnp.ndarray], fans: dict[str, int]) -> jnp.ndarray:
    """Built-in priors: weights Normal(0, 1/sqrt(fan_in)), biases and scales as the checker gives them."""
    total = 0.0
    for k, w in p.items():
        if k.endswith(".weight"):
            total = total + normal_lp(w, 1 / math.sqrt(fans[k]))
        else:
            total = total + normal_lp(w, 1.0)
    return total


def lax_conv(h, w, stride):
    return jax.lax.conv_general_dilated(h, w, (stride,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"))


def unfold_conv(h, w, stride):
    """The same convolution as one matrix product over the k shifted, strided copies of the padded input."""
    k, length = w.shape[0], h.shape[1]
    out = -(-length // stride)
    pad = max((out - 1) * stride + k - length, 0)
    h = jnp.pad(h, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)))
    cols = jnp.concatenate([h[:, i : i + (out - 1) * stride + 1 : stride] for i in range(k)], axis=-1)
    return cols @ w.reshape(-1, w.shape[-1])


def lax_pool(h):
    return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 1), (1, 2, 1), "VALID")


def unfold_pool(h):
    return jnp.maximum(h[:, 0::2], h[:, 1::2])


def cnn_with(conv, pool):
    def logits(p, x):
        h = jax.nn.relu(conv(x, p["cnn.0.weight"], 1) + p["cnn.0.bias"])
        h = jax.nn.relu(conv(h, p["cnn.1.weight"], 2) + p["cnn.1.bias"])
        h = pool(h)
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ p["cnn.4.weight"] + p["cnn.4.bias"])
        return h @ p["cnn.5.weight"] + p["cnn.5.bias"]

    return logits


def layer_norm(h):
    return (h - h.mean(-1, keepdims=True)) / jnp.sqrt(h.var(-1, keepdims=True) + 1e-5)


def self_attention(p, pre, h, heads):
    n, t, d = h.shape
    proj = {k: h @ p[f"{pre}.{k}.weight"] + p[f"{pre}.{k}.bias"] for k in ("query", "key", "value")}
    q, k, v = (proj[k].reshape(n, t, heads, d // heads) for k in ("query", "key", "value"))
    att = jax.nn.softmax(jnp.einsum("nqhd,nkhd->nhqk", q, k) / math.sqrt(d // heads), axis=-1)
    out = jnp.einsum("nhqk,nkhd->nqhd", att, v).reshape(n, t, d)
    return out @ p[f"{pre}.output.weight"] + p[f"{pre}.output.bias"]


def tr_logits(p, tokens):
    h = p["tr.0.weight"][tokens] + p["tr.1.weight"]
    h = h + self_attention(p, "tr.2.0.1", layer_norm(h), 2)
    m = jax.nn.gelu(layer_norm(h) @ p["tr.2.1.1.weight"] + p["tr.2.1.1.bias"])
    h = h + (m @ p["tr.2.1.2.weight"] + p["tr.2.1.2.bias"])
    return h.mean(1) @ p["tr.4.weight"] + p["tr.4.bias"]


def hand_potential(logits_fn, fans, unravel, n_rows):
    def potential(z, batch):
        p = unravel(z)
        logits = logits_fn(p, batch["input"])
        ll = jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), batch["y"][:, None], axis=1))
        return -(weights_lp(p, fans) + (n_rows / BATCH) * ll)

    return potential


def scan_loop(potential, data: dict[str, jnp.ndarray], steps: int):
    """`steps` minibatch gradients in one jitted scan; returns per-gradient microseconds of a call."""

    def body(carry, t):
        z, acc = carry
        idx = jax.random.randint(jax.random.PRNGKey(t), (BATCH,), 0, ROWS)
        value, grad = jax.value_and_grad(potential)(z, {k: v[idx] for k, v in data.items()})
        return (z - 1e-7 * grad, acc + value), None

    loop = jax.jit(lambda z: jax.lax.scan(body, (z, 0.0), jnp.arange(steps))[0])
    return loop


def case(source: str, name: str, hands: dict, make_data, steps: int, rounds: int) -> dict:
    """`hands`: hand-written logits functions by name; the ratio is against the fastest of them."""
    data = make_data()
    model = Model.from_source(source, f"{name}.bnn")
    problem = model.problem(model.data(data))
    draw = problem.prior_draw(jax.random.PRNGKey(1))
    z0, unravel = ravel_pytree(draw)
    checked = model.checked
    fans = {
        site: int(s.fan_in)
        for net in checked.networks.values()
        for site, _, s in net.layer_sites()
        if s.role == "weight"
    }
    input_name = next(v.name for v in checked.inputs)
    batch_keys = {"input": input_name, "y": "y"}

    def generated(z, batch):
        return problem.potential(unravel(z), {batch_keys[k]: v for k, v in batch.items()})

    potentials = {"bnnlang": generated} | {k: hand_potential(f, fans, unravel, ROWS) for k, f in hands.items()}
    arrays = {"input": jnp.asarray(data[input_name]), "y": jnp.asarray(data["y"])}
    idx = jnp.arange(BATCH)
    one = {k: v[idx] for k, v in arrays.items()}
    gv = float(generated(z0, one))
    rel = max(abs(gv - float(f(z0, one))) / abs(gv) for f in potentials.values())
    assert rel < 1e-4, f"{name}: generated and hand-written potentials differ by {rel}"
    loops = {k: scan_loop(f, arrays, steps) for k, f in potentials.items()}
    for loop in loops.values():
        jax.block_until_ready(loop(z0))  # compile
    times: dict[str, list[float]] = {k: [] for k in loops}
    for _ in range(rounds):
        for k, loop in loops.items():
            tick = time.perf_counter()
            jax.block_until_ready(loop(z0))
            times[k].append(1e6 * (time.perf_counter() - tick) / steps)
    memory = {}
    for k, fn in potentials.items():
        compiled = jax.jit(jax.value_and_grad(fn)).lower(z0, one).compile()
        analysis = compiled.memory_analysis()
        memory[k] = getattr(analysis, "temp_size_in_bytes", 0) / 2**20 if analysis is not None else float("nan")
    med = {k: statistics.median(v) for k, v in times.items()}
    best = min(hands, key=lambda k: med[k])
    return {
        "model": name,
        "params": int(z0.size),
        "us": med,
        "temp_mib": memory,
        "best_hand": best,
        "ratio": med["bnnlang"] / med[best],
        "potential_rel_diff": rel,
    }


def mnist1d_like() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(ROWS, 40, 1)).astype(np.float32), "y": rng.integers(0, 10, ROWS)}


def token_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"tokens": rng.integers(0, 32, (ROWS, 16)), "y": rng.integers(0, 2, ROWS)}


def report(rows: list[dict], quick: bool, rounds: int, steps: int) -> str:
    lines = [
        "# Compiled layers against hand-written JAX: time per gradient and memory per step",
        "",
        provenance("Written by `benchmarks/layers_speed.py" + (" --quick" if quick else "") + "`."),
        "",
        f"Minibatch of {BATCH} rows (of {ROWS}), `jit(value_and_grad)` of the negative log joint inside a `lax.scan` "
        f"of {steps} steps, one JAX CPU device, median of {rounds} rounds taken in turns; compilation excluded. "
        "Memory: XLA's temporary buffers of the compiled gradient (`memory_analysis().temp_size_in_bytes`). "
        f"Target: ratio at most {TARGET}.",
        "",
        "| model | params | code | µs per gradient | temp MiB | bnnlang / fastest hand-written |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        for k, us in r["us"].items():
            ratio = f"{r['ratio']:.2f}" if k == "bnnlang" else ""
            lines.append(f"| {r['model']} | {r['params']:,} | {k} | {us:.0f} | {r['temp_mib'][k]:.2f} | {ratio} |")
    lines += [
        "",
        "`hand (lax)` is the CNN written with `jax.lax.conv_general_dilated` and `reduce_window`, `hand (unfold)` "
        "with one matrix product over shifted copies of the input, as bnnlang compiles it "
        "(`bnnlang/check/nn/windows.py` says why); the transformer is written in plain `jax.numpy`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of shorter loops")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "layers_speed.md"))
    args = ap.parse_args(argv)
    rounds, steps = (2, 50) if args.quick else (5, 200)
    cnn_hands = {"hand (lax)": cnn_with(lax_conv, lax_pool), "hand (unfold)": cnn_with(unfold_conv, unfold_pool)}
    rows = [
        case(CNN, "cnn", cnn_hands, mnist1d_like, steps, rounds),
        case(TRANSFORMER, "transformer", {"hand": tr_logits}, token_data, steps, rounds),
    ]
    text = report(rows, args.quick, rounds, steps)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"quick": args.quick, "rows": rows, "provenance": facts()}) + "\n")
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
