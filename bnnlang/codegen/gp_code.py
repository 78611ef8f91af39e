"""Code generation for `gp` statements and function-space priors.

Kernels come from tinygp (its kernel algebra and ARD transforms); the linear
algebra around them is a few lines emitted into the program (`GP_HELPERS`), so
the printed program shows exactly what is computed. A GP model takes
`_train=None`: given the training inputs and outputs there, the same function
predicts at new inputs (the GP conditioned on the training values).
"""

from __future__ import annotations

from collections.abc import Callable

from ..check.distributions import KERNELS
from ..check.model import CheckedFunctionPrior, CheckedGP, CheckedModel, Size
from ..syntax import tree as t
from .names import inducing_argument

GP_HELPERS = '''
def _gp_cov(kernel, X, diag, jitter=0.0):
    """Kernel matrix of the rows of X plus `diag` (a noise variance) and `jitter` times the kernel's mean
    variance on the diagonal: a jitter relative to the kernel's scale keeps the Cholesky factor finite in
    float32 at any amplitude (an absolute 1e-4 failed at amplitude 6: examples/gp_classification.bnn)."""
    K = kernel(X, X)
    return K + (diag + jitter * jnp.mean(jnp.diag(K))) * jnp.eye(X.shape[0])


def _gp_conditional(kernel, X, L, white, Xs):
    """Mean and variance at Xs of a zero-mean GP whose values at X are L @ white, L = cholesky(cov at X).

    Also the collapsed case: `white` = L^-1 (y - mean) with L from the noisy covariance. `white` may
    carry a leading axis of independent functions.
    """
    A = jax.scipy.linalg.solve_triangular(L, kernel(X, Xs), lower=True)
    var = jax.vmap(lambda z: kernel.evaluate(z, z))(Xs) - jnp.sum(A**2, axis=0)
    return white @ A, jnp.maximum(var, 1e-9)


def _gp_inducing(X, M, steps=10):
    """M inducing inputs for a sparse GP: k-means centres of the rows of X (Lloyd steps from evenly spaced rows).

    Deterministic, so training and prediction agree without storing anything.
    """
    Z = X[jnp.linspace(0, X.shape[0] - 1, M).astype(jnp.int32)]

    def step(Z, _):
        nearest = jnp.argmin(jnp.sum((X[:, None, :] - Z[None]) ** 2, axis=-1), axis=1)
        onehot = jax.nn.one_hot(nearest, M, dtype=X.dtype)
        counts = onehot.sum(axis=0)[:, None]
        return jnp.where(counts > 0, (onehot.T @ X) / jnp.maximum(counts, 1), Z), None

    return jax.lax.scan(step, Z, None, length=steps)[0]


def _gp_features(h):
    """A GP's inputs as a matrix: a network's one-column output [rows] becomes [rows, 1]."""
    return h.reshape(h.shape[0], -1)
'''

_TINYGP = {
    "RBF": "ExpSquared",
    "Matern12": "Exp",
    "Matern32": "Matern32",
    "Matern52": "Matern52",
    "RationalQuadratic": "RationalQuadratic",
}


class GPCode:
    """Emits GP code into an Emitter; `expr` renders a bnnlang expression as Python."""

    def __init__(self, model: CheckedModel, emit: Callable[[str, int], None], expr, ident, size) -> None:
        self.m = model
        self.emit = emit
        self.expr = expr  # (expr, ctx) -> str
        self.ident = ident
        self.size = size

    # ---------------------------------------------------------- kernels
    def kernel(self, e: t.Expr, ctx) -> str:
        if isinstance(e, t.Call) and e.func in KERNELS:
            return self.kernel_call(e, ctx)
        if isinstance(e, t.BinOp) and any(isinstance(n, t.Call) and n.func in KERNELS for n in t.walk(e)):
            left = self.kernel(e.left, ctx)
            right = self.kernel(e.right, ctx)
            return f"({left} {e.op} {right})"
        return self.expr(e, ctx)

    def kernel_call(self, call: t.Call, ctx) -> str:
        spec = KERNELS[call.func]
        args = dict(zip(spec.params, call.args))
        args.update({kw.name: kw.value for kw in call.kwargs})
        val = {k: self.expr(v, ctx) for k, v in args.items()}
        k = "tinygp.kernels."
        if call.func == "Linear":
            return f"{k}DotProduct()"
        if call.func == "Periodic":
            return f"{k}ExpSineSquared(scale={val['period']}, gamma=2.0 / {val['ls']} ** 2)"
        extra = (
            f", alpha={val.get('alpha', repr(spec.defaults.get('alpha', 1.0)))}"
            if call.func == "RationalQuadratic"
            else ""
        )
        name = _TINYGP[call.func]
        ls = args["ls"]
        per_feature = isinstance(ls, t.Name) and ls.id in self.m.param_shapes and self.m.param_shapes[ls.id]
        if per_feature:  # one lengthscale per input feature: tinygp scales the inputs
            return f"tinygp.transforms.Linear(1.0 / {val['ls']}, {k}{name}({extra.lstrip(', ')}))"
        return f"{k}{name}(scale={val['ls']}{extra})"

    # ---------------------------------------------------------- gp statements
    def input_code(self, g: CheckedGP, ctx, train: bool) -> str:
        """The GP's input matrix, for the current inputs or (train) the training inputs in `_train`."""
        node = g.node.input
        if not train:
            code = self.expr(node, ctx)
            return f"_gp_features({code})" if g.network else code
        if isinstance(node, t.Name):
            return f'_train["{node.id}"]'
        arg = node.args[0]
        inner = f'_train["{arg.id}"]' if isinstance(arg, t.Name) else self.expr(arg, ctx)
        return f"_gp_features({self.ident(g.network)}(_p_{g.network}, {inner}))"

    def gp_block(self, g: CheckedGP, ctx) -> None:
        e = self.emit
        n = self.ident(g.name)
        mean = self.expr(g.mean, ctx)
        jitter = repr(float(g.jitter))
        white_shape = "{rows}" if g.outputs is None else f"({self.size(g.outputs)}, {{rows}})"
        white_shape_1 = white_shape if g.outputs is not None else "({rows},)"
        events = 1 if g.outputs is None else 2
        e(f"# gp {g.name}: {g.mode}" + _MODE_DOC[g.mode], 1)
        e(f"_k_{n} = {self.kernel(g.kernel, ctx)}", 1)
        e(f"_X_{n} = {self.input_code(g, ctx, train=False)}", 1)
        if g.mode == "collapsed":
            noise = self.expr(g.noise, ctx)
            e("if _train is not None:", 1)
            e(f"_Xt_{n} = {self.input_code(g, ctx, train=True)}", 2)
            e(f"_L_{n} = jnp.linalg.cholesky(_gp_cov(_k_{n}, _Xt_{n}, {noise} ** 2, {jitter}))", 2)
            obs = f'_train["{g.observed}"]'
            e(f"_w_{n} = jax.scipy.linalg.solve_triangular(_L_{n}, {obs} - {mean}, lower=True)", 2)
            e(f"_m_{n}, _v_{n} = _gp_conditional(_k_{n}, _Xt_{n}, _L_{n}, _w_{n}, _X_{n})", 2)
            e(f'{n} = numpyro.sample("{g.name}", dist.Normal({mean} + _m_{n}, jnp.sqrt(_v_{n})).to_event(1))', 2)
            return
        if g.mode == "sparse":
            m = g.inducing
            z = inducing_argument(g.name)
            e(f"if {z} is None:  # `bnnc run` passes the inducing inputs of the full training data", 1)
            train_x = self.input_code(g, ctx, train=True)
            e(f"{z} = _gp_inducing(_X_{n} if _train is None else {train_x}, {m})", 2)
            e(f"_L_{n} = jnp.linalg.cholesky(_gp_cov(_k_{n}, {z}, 0.0, {jitter}))", 1)
            shape = white_shape_1.format(rows=m)
            e(f'_u_{n} = numpyro.sample("{g.name}.white", dist.Normal(0, 1).expand({shape}).to_event({events}))', 1)
            e(f"_m_{n}, _v_{n} = _gp_conditional(_k_{n}, {z}, _L_{n}, _u_{n}, _X_{n})", 1)
            e("if _train is None:", 1)
            e(f"{n} = {mean} + {_t(f'_m_{n}', g)}", 2)
            e("else:", 1)
            e(f'{n} = numpyro.sample("{g.name}", {_normal(mean, n, g, events)})', 2)
            return
        e(f"_Xt_{n} = _X_{n} if _train is None else {self.input_code(g, ctx, train=True)}", 1)
        e(f"_L_{n} = jnp.linalg.cholesky(_gp_cov(_k_{n}, _Xt_{n}, 0.0, {jitter}))", 1)
        shape = white_shape_1.format(rows=f"_Xt_{n}.shape[0]")
        e(f'_u_{n} = numpyro.sample("{g.name}.white", dist.Normal(0, 1).expand({shape}).to_event({events}))', 1)
        e("if _train is None:", 1)
        value = f"_L_{n} @ _u_{n}" if g.outputs is None else f"(_u_{n} @ _L_{n}.T).T"
        e(f"{n} = {mean} + {value}", 2)
        e("else:", 1)
        e(f"_m_{n}, _v_{n} = _gp_conditional(_k_{n}, _Xt_{n}, _L_{n}, _u_{n}, _X_{n})", 2)
        e(f'{n} = numpyro.sample("{g.name}", {_normal(mean, n, g, events)})', 2)

    def collapsed_observe(self, g: CheckedGP, ctx, var_shape_rows: str, dist_code: str, plate: str) -> None:
        """The observe statement a collapsed GP replaces in training: y ~ MVN(mean, K + noise^2 I)."""
        e = self.emit
        n = self.ident(g.name)
        noise = self.expr(g.noise, ctx)
        obs = self.ident(g.observed)
        mean = self.expr(g.mean, ctx)
        jitter = repr(float(g.jitter))
        e("if _train is None:", 1)
        e(f"_L_{n} = jnp.linalg.cholesky(_gp_cov(_k_{n}, _X_{n}, {noise} ** 2, {jitter}))", 2)
        loc = f"jnp.broadcast_to({mean}, _X_{n}.shape[:1])"
        tril = f"_L_{n}"
        if self.m.data[g.observed].standardized:  # the GP lives in standardized units, the data in their own
            loc, tril = f"_shift_{g.observed} + _scale_{g.observed} * {loc}", f"_scale_{g.observed} * {tril}"
        e(f'numpyro.sample("{g.observed}", dist.MultivariateNormal({loc}, scale_tril={tril}), obs={obs})', 2)
        e("else:", 1)
        e(f"with {plate}:", 2)
        e(f'numpyro.sample("{g.observed}", {dist_code}, obs={obs})', 3)

    def sparse_trace_term(self, g: CheckedGP, ctx) -> None:
        """Inside the observation plate: Titsias's trace term, -sum(var of f given u) / (2 noise^2)."""
        n = self.ident(g.name)
        noise = self.expr(g.noise, ctx)
        self.emit("if _train is None:", 2)
        self.emit(f'numpyro.factor("{g.name}.trace", -0.5 * _v_{n} / {noise} ** 2)', 3)

    # ---------------------------------------------------------- function-space priors
    def function_prior_params(self, fp: CheckedFunctionPrior) -> list[str]:
        names = [n.id for e in (fp.mean, fp.kernel) for n in t.walk(e) if isinstance(n, t.Name)]
        return [self.ident(n) for n in dict.fromkeys(names) if n in self.m.param_shapes]

    def function_prior_def(self, fp: CheckedFunctionPrior, ctx) -> None:
        """A module-level function giving the prior's GP, which `bnnc fit-prior` also calls."""
        # `_prior_gp_NAME` with NAME as written: `bnnc fit-prior` looks it up by the network's name
        self.emit(f"def _prior_gp_{fp.network}({', '.join(self.function_prior_params(fp))}):", 0)
        self.emit(f'"""The GP of {fp.network}\'s function-space prior: (mean, kernel, jitter)."""', 1)
        self.emit(f"return {self.expr(fp.mean, ctx)}, {self.kernel(fp.kernel, ctx)}, {fp.jitter!r}", 1)
        self.emit("", 0)
        self.emit("", 0)

    def context_points(self, fp: CheckedFunctionPrior, fan_in: Size) -> str:
        """Python for the context points of a box (`context(low, high, points)`)."""
        lo, hi = repr(float(fp.low)), repr(float(fp.high))
        if fan_in == 1:
            return f"jnp.linspace({lo}, {hi}, {fp.points})[:, None]"
        shape = f"({fp.points}, {self.size(fan_in)})"
        return f"jax.random.uniform(jax.random.PRNGKey(0), {shape}, minval={lo}, maxval={hi})"

    def function_prior(self, fp: CheckedFunctionPrior, ctx, fan_in: Size, index: int) -> None:
        e = self.emit
        net = self.ident(fp.network)
        e(f"# function-space prior on {fp.network}: the GP's log density of its outputs at the context points", 1)
        if fp.context is not None:
            x = self.ident(fp.context)
            if fp.points:
                e(f"_c_{net} = {x}[jnp.linspace(0, {x}.shape[0] - 1, {fp.points}).astype(jnp.int32)]", 1)
            else:
                e(f"_c_{net} = {x}", 1)
        else:
            if fan_in != 1:
                e(f"# {fp.points} fixed points drawn uniformly from the box [{fp.low:g}, {fp.high:g}]^{fan_in}", 1)
            e(f"_c_{net} = {self.context_points(fp, fan_in)}", 1)
        if fp.spread:
            e(f"# spread: Normal(0, {fp.spread:g}) offsets, redrawn from _key at each SG-HMC or SVI step; samplers", 1)
            e("# that need a fixed log density (NUTS, MILE) give no key and use one draw, from key 0", 1)
            key = f"jax.random.fold_in(jax.random.PRNGKey(0) if _key is None else _key, {index})"
            e(f"_c_{net} = _c_{net} + {fp.spread!r} * jax.random.normal({key}, _c_{net}.shape)", 1)
        e(f"_mc_{net}, _kc_{net}, _jc_{net} = _prior_gp_{fp.network}({', '.join(self.function_prior_params(fp))})", 1)
        e(f"_fc_{net} = _gp_features({net}(_p_{fp.network}, _c_{net})) - _mc_{net}", 1)
        e(f"_Lc_{net} = jnp.linalg.cholesky(_gp_cov(_kc_{net}, _c_{net}, _jc_{net}))", 1)
        logp = f"dist.MultivariateNormal(scale_tril=_Lc_{net}).log_prob(_fc_{net}.T).sum()"
        e(f'numpyro.factor("{fp.network}.function_prior", {logp})', 1)


_MODE_DOC = {
    "collapsed": " (exact; the latent function is integrated out of the Normal likelihood)",
    "latent": " (exact; values at the inputs are mean + cholesky(K) @ white, white ~ Normal(0, 1))",
    "sparse": " (inducing points Z; f given the whitened values u at Z has the mean K_xZ K_ZZ^-1 L u)",
}


def _t(code: str, g: CheckedGP) -> str:
    """[K, rows] -> [rows, K] for a vector of GPs."""
    return code if g.outputs is None else f"{code}.T"


def _normal(mean: str, n: str, g: CheckedGP, events: int) -> str:
    sd = f"jnp.sqrt(_v_{n})" if g.outputs is None else f"jnp.sqrt(_v_{n})[:, None]"
    return f"dist.Normal({mean} + {_t(f'_m_{n}', g)}, {sd}).to_event({events})"
