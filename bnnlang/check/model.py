"""The checked model: what the checker hands to code generation, inference and the reports.

Sizes are symbolic (a dimension name, a name plus or minus a number, or a whole number); the data put numbers
on them when a run binds its data (`check/data.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import BnnWarning
from ..syntax import tree as t
from .distributions import LOCATION_SCALE
from .settings import InferSettings

Size = int | str
Shape = tuple[Size, ...]


def symbols(size: Size) -> list[str]:
    """The dimension names a size refers to."""
    return [] if isinstance(size, int) else re.findall(r"[A-Za-z_][A-Za-z0-9_]*", size)


def shape_str(shape: Shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]" if shape else "a scalar"


@dataclass
class DataVar:
    decl: t.DataDecl
    shape: Shape
    bound: tuple[Size, Size] | None
    observed: bool = False

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def base(self) -> str:
        return self.decl.type.base

    @property
    def standardized(self) -> bool:
        return self.decl.standardized


@dataclass
class PriorUse:
    """The prior of one weight or bias: a distribution, or a prior definition with its arguments."""

    role: str
    call: t.Call
    prior_def: t.PriorDef | None = None
    args: dict[str, t.Expr] = field(default_factory=dict)


@dataclass
class Dense:
    path: str
    fan_in: Size
    units: Size
    activation: str
    weight: PriorUse
    bias: PriorUse
    deterministic: bool = False  # point-estimated (MAP), then held fixed while the rest is sampled


@dataclass
class Residual:
    path: str
    layers: list


@dataclass
class Activation:
    path: str
    activation: str


@dataclass
class CheckedNetwork:
    node: t.Network
    fan_in: Size
    layers: list
    out_units: Size  # width of the last layer
    squeeze: bool  # output declared as real[rows]: drop the unit axis

    @property
    def name(self) -> str:
        return self.node.name

    def dense_layers(self) -> list[Dense]:
        """Every dense layer, residual blocks' included, in order."""
        out: list[Dense] = []
        stack = list(reversed(self.layers))
        while stack:
            layer = stack.pop()
            if isinstance(layer, Dense):
                out.append(layer)
            elif isinstance(layer, Residual):
                stack.extend(reversed(layer.layers))
        return out

    def deterministic_sites(self) -> list[str]:
        """Sample sites of the layers marked deterministic: their weights, biases and prior locals."""
        return self.sites(deterministic_only=True)

    def hidden_sites(self) -> list[str]:
        """Sites of every dense layer but the last: what a last-layer approximation holds at the MAP."""
        last = self.dense_layers()[-1].path
        return [s for s in self.sites() if not s.startswith(f"{self.name}.{last}.")]

    def sites(self, deterministic_only: bool = False) -> list[str]:
        """The network's sample sites (weights, biases, prior locals), in order."""
        sites = []
        for layer in self.dense_layers():
            if layer.deterministic or not deterministic_only:
                for use in (layer.weight, layer.bias):
                    site = f"{self.name}.{layer.path}.{use.role}"
                    sites.append(site)
                    if use.prior_def is not None:
                        sites.extend(f"{site}.{lp.name}" for lp in use.prior_def.locals)
        return sites


@dataclass
class CheckedGP:
    """A `gp` statement. Its mode, from how observe statements use it: `collapsed` when its only use is
    `observe y ~ Normal(f, sigma)` (the function is integrated out exactly), `sparse` with `inducing = M`,
    `latent` (whitened) otherwise."""

    node: t.GPDecl
    rows: Size
    features: Size
    outputs: Size | None  # K for `gp f[K]`, else None
    mean: t.Expr
    kernel: t.Expr
    inducing: int  # 0: exact
    jitter: float
    network: str | None  # deep kernel learning: the network whose outputs are the GP's inputs
    mode: str = "latent"  # collapsed | sparse | latent
    observed: str | None = None  # collapsed and sparse Normal: the observed variable
    noise: t.Expr | None = None  # ... and its Normal scale

    @property
    def name(self) -> str:
        return self.node.name

    def sites(self) -> list[str]:
        """The GP's latent sample sites (whitened values at the inputs or at the inducing points)."""
        return [] if self.mode == "collapsed" else [f"{self.name}.white"]

    @property
    def scope_shape(self) -> Shape:
        """The shape its name has in expressions: one value per row (per row and output for `gp f[K]`)."""
        return (self.rows,) if self.outputs is None else (self.rows, self.outputs)


@dataclass
class CheckedFunctionPrior:
    node: t.FunctionPrior
    mean: t.Expr
    kernel: t.Expr
    jitter: float
    context: str | None  # a data matrix's name, or None for a box of points
    points: int  # rows used (0: all of the data's rows)
    low: float = -1.0
    high: float = 1.0
    spread: float = 0.0  # sd of the Normal offsets added to the points (redrawn each SG-HMC/SVI step)

    @property
    def network(self) -> str:
        return self.node.network


@dataclass
class CheckedModel:
    program: t.Program
    data: dict[str, DataVar]
    consts: dict[str, int]
    input_dims: dict[str, tuple[str, int]]  # dim -> (input variable, axis) it is read from
    arg_dims: list[str]  # dims the model takes as keyword arguments
    params: list[t.Param]  # in dependency order
    param_shapes: dict[str, Shape]
    networks: dict[str, CheckedNetwork]
    prior_defs: dict[str, tuple[str, t.PriorDef]]  # used prior name -> (module, definition)
    observes: list[t.Observe]
    infer: InferSettings
    warnings: list[BnnWarning] = field(default_factory=list)
    gps: dict[str, CheckedGP] = field(default_factory=dict)
    function_priors: list[CheckedFunctionPrior] = field(default_factory=list)

    @property
    def inputs(self) -> list[DataVar]:
        return [v for v in self.data.values() if not v.observed]

    @property
    def observed(self) -> list[DataVar]:
        return [v for v in self.data.values() if v.observed]

    def deterministic_sites(self) -> list[str]:
        return [site for net in self.networks.values() for site in net.deterministic_sites()]

    def hidden_sites(self) -> list[str]:
        """Every network's sites but its last layer's."""
        return [site for net in self.networks.values() for site in net.hidden_sites()]

    def sample_sites(self) -> list[str]:
        """Every latent site: params, each network's weights, biases and prior locals, then GPs' whitened values."""
        nets = [s for net in self.networks.values() for s in net.sites()]
        return [p.name for p in self.params] + nets + [s for g in self.gps.values() for s in g.sites()]

    def noncentered_sites(self) -> dict[str, tuple[str, ...]]:
        """Hierarchical sites: a location-scale prior whose loc or scale reads another latent value.

        Sampled as loc + scale * z with z standard (setting `noncentered`), so a sampler never meets the
        funnel between a scale and the values it scales. Maps each site to the shape parameters its
        standard form keeps (StudentT's df). Deterministic layers keep their values as written.
        """
        latent = {p.name for p in self.params}
        out: dict[str, tuple[str, ...]] = {}
        for p in self.params:
            _noncenter(out, p.name, p.dist, latent)
        for net in self.networks.values():
            for layer in net.dense_layers():
                if layer.deterministic:
                    continue
                for use in (layer.weight, layer.bias):
                    site = f"{net.name}.{layer.path}.{use.role}"
                    if use.prior_def is None:
                        _noncenter(out, site, use.call, latent)
                        continue
                    # inside a prior: its own params, and arguments the use site computes from latents
                    scope = {name for name, arg in use.args.items() if latent.intersection(t.names_in(arg))}
                    for lp in use.prior_def.locals:
                        _noncenter(out, f"{site}.{lp.name}", lp.dist, scope)
                        scope.add(lp.name)
                    _noncenter(out, site, use.prior_def.value, scope)
        return out

    @property
    def dims(self) -> list[str]:
        names: list[str] = []
        for v in self.data.values():
            for s in v.shape + (v.bound or ()):
                for sym in symbols(s):
                    if sym not in names:
                        names.append(sym)
        return names


def _noncenter(out: dict[str, tuple[str, ...]], site: str, call: t.Call, latent: set[str]) -> None:
    if call.func in LOCATION_SCALE and latent.intersection(t.names_in(call)):
        out[site] = ("df",) if call.func == "StudentT" else ()
