"""The distributions and functions a model may use, with their signatures.

Kept free of JAX so that `bnnc check` stays fast; code generation maps each
entry to the NumPyro class of the same name (`numpyro.distributions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DistSpec:
    name: str
    params: tuple[str, ...]  # NumPyro argument names, in positional order
    required: int  # how many leading params have no default
    support: str  # real | positive | interval | unit | simplex | binary | category | count
    defaults: dict[str, float] = field(default_factory=dict)
    # keyword-only alternative parameterisations: alt name -> the param it replaces
    alternatives: dict[str, str] = field(default_factory=dict)
    # params whose last axis is an event axis (Categorical logits, Dirichlet concentration)
    vector_params: frozenset[str] = frozenset()
    discrete: bool = False

    @property
    def event_rank(self) -> int:
        return 1 if self.support == "simplex" else 0

    def signature(self) -> str:
        parts = [p if i < self.required else f"{p} = {self.defaults[p]:g}" for i, p in enumerate(self.params)]
        alts = [f"{alt} = ..." for alt in self.alternatives]
        return f"{self.name}({', '.join(parts + alts)})"


def _d(name, params, required, support, **kw) -> DistSpec:
    return DistSpec(name, tuple(params), required, support, **kw)


DISTRIBUTIONS: dict[str, DistSpec] = {
    d.name: d
    for d in [
        _d("Normal", ["loc", "scale"], 2, "real"),
        _d("Laplace", ["loc", "scale"], 2, "real"),
        _d("StudentT", ["df", "loc", "scale"], 1, "real", defaults={"loc": 0.0, "scale": 1.0}),
        _d("Cauchy", ["loc", "scale"], 2, "real"),
        _d("HalfNormal", ["scale"], 1, "positive"),
        _d("HalfCauchy", ["scale"], 1, "positive"),
        _d("LogNormal", ["loc", "scale"], 2, "positive"),
        _d("Gamma", ["concentration", "rate"], 1, "positive", defaults={"rate": 1.0}),
        _d("InverseGamma", ["concentration", "rate"], 1, "positive", defaults={"rate": 1.0}),
        _d("Exponential", ["rate"], 0, "positive", defaults={"rate": 1.0}),
        _d("Uniform", ["low", "high"], 2, "interval"),
        _d("Beta", ["concentration1", "concentration0"], 2, "unit"),
        _d("Dirichlet", ["concentration"], 1, "simplex", vector_params=frozenset({"concentration"})),
        _d("RelaxedBernoulli", ["temperature", "probs"], 2, "unit", alternatives={"logits": "probs"}),
        _d("Bernoulli", ["probs"], 1, "binary", alternatives={"logits": "probs"}, discrete=True),
        _d(
            "Categorical",
            ["probs"],
            1,
            "category",
            alternatives={"logits": "probs"},
            vector_params=frozenset({"probs", "logits"}),
            discrete=True,
        ),
        _d("Poisson", ["rate"], 1, "count", alternatives={"log_rate": "rate"}, discrete=True),
    ]
}

# Parameters whose values must be positive when given as literal numbers.
# likelihoods of the form loc + scale * noise: data standardized for the model are mapped back to their own
# units by loc -> shift + scale_y * loc, scale -> scale_y * scale (docs/language.md, "standardized")
LOCATION_SCALE = frozenset({"Normal", "Laplace", "StudentT", "Cauchy"})

POSITIVE_PARAMS = frozenset({"scale", "df", "concentration", "rate", "concentration1", "concentration0", "temperature"})

# Element-wise functions allowed in expressions: name -> jax expression template.
FUNCTIONS: dict[str, str] = {
    "sqrt": "jnp.sqrt",
    "exp": "jnp.exp",
    "log": "jnp.log",
    "log1p": "jnp.log1p",
    "expm1": "jnp.expm1",
    "abs": "jnp.abs",
    "tanh": "jnp.tanh",
    "sigmoid": "jax.nn.sigmoid",
    "softplus": "jax.nn.softplus",
}

# Layer activations: name -> the jax function applied element-wise.
ACTIVATIONS: dict[str, str] = {
    "tanh": "jnp.tanh",
    "relu": "jax.nn.relu",
    "gelu": "jax.nn.gelu",
    "sigmoid": "jax.nn.sigmoid",
    "softplus": "jax.nn.softplus",
    "swish": "jax.nn.silu",
    "identity": "",
}

PRIOR_ROLES = ("weight", "bias", "scale")  # a layer site's role chooses its prior (check/nn/)


@dataclass(frozen=True)
class KernelSpec:
    """A covariance function of a `gp` or function-space prior; code generation maps it to tinygp."""

    name: str
    params: tuple[str, ...]  # positional order; every one must be positive
    required: int
    defaults: dict[str, float] = field(default_factory=dict)
    per_feature: frozenset[str] = frozenset()  # params that may be a vector [D], one per input feature (ARD)
    doc: str = ""
    alternatives: dict[str, str] = field(default_factory=dict)  # none; lets Checker.bind_args bind kernels too

    def signature(self) -> str:
        parts = [p if i < self.required else f"{p} = {self.defaults[p]:g}" for i, p in enumerate(self.params)]
        return f"{self.name}({', '.join(parts)})"


KERNELS: dict[str, KernelSpec] = {
    k.name: k
    for k in [
        KernelSpec("RBF", ("ls",), 1, per_feature=frozenset({"ls"}), doc="exp(-r^2 / 2), r = |x - x'| / ls"),
        KernelSpec("Matern12", ("ls",), 1, per_feature=frozenset({"ls"}), doc="exp(-r)"),
        KernelSpec("Matern32", ("ls",), 1, per_feature=frozenset({"ls"}), doc="(1 + sqrt(3) r) exp(-sqrt(3) r)"),
        KernelSpec(
            "Matern52", ("ls",), 1, per_feature=frozenset({"ls"}), doc="(1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)"
        ),
        KernelSpec("Periodic", ("period", "ls"), 2, doc="exp(-2 sin^2(pi |x - x'|_1 / period) / ls^2)"),
        KernelSpec(
            "RationalQuadratic",
            ("ls", "alpha"),
            1,
            defaults={"alpha": 1.0},
            per_feature=frozenset({"ls"}),
            doc="(1 + r^2 / (2 alpha))^(-alpha)",
        ),
        KernelSpec("Linear", (), 0, doc="x . x'"),
    ]
}

# `GP(mean, kernel, ...)`'s keyword settings and their defaults.
GP_OPTIONS: dict[str, float] = {"inducing": 0.0, "jitter": 1e-4}
# Largest number of rows an exact GP takes before the sparse GP is the sensible choice.
MAX_EXACT_GP_ROWS = 4000
