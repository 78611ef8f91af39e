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

    @property
    def levels(self) -> tuple[str, ...] | None:
        """A category's names, in code order, for data declared `int[N] in (a, b, c)`."""
        levels = self.decl.type.levels
        return tuple(n.id for n in levels) if levels is not None else None


@dataclass
class PriorUse:
    """The prior of one weight or bias: a distribution, or a prior definition with its arguments."""

    role: str
    call: t.Call
    prior_def: t.PriorDef | None = None
    args: dict[str, t.Expr] = field(default_factory=dict)


@dataclass
class Site:
    """One sampled array of a layer: its name within the layer (`weight`, `query.weight`), the prior role that
    chooses its prior (`weight`, `bias`, `scale`), its shape, and the fans its prior's `fan_in`/`fan_out` read.
    `axes` names each axis for ArviZ's dims (`in`, `out`, `kernel`, ...), shared across the layer's sites."""

    name: str
    role: str
    shape: Shape
    fan_in: Size
    fan_out: Size
    axes: tuple[str, ...]
    prior: PriorUse | None = None


@dataclass
class Layer:
    """A checked layer of any kind (`check/nn/`): its arguments as validated values, the shapes it maps between
    (without the rows axis), and its sampled sites."""

    path: str
    kind: str
    args: dict[str, object]
    in_shape: Shape
    out_shape: Shape
    sites: list[Site] = field(default_factory=list)
    deterministic: bool = False  # point-estimated (MAP), then held fixed while the rest is sampled

    def site(self, name: str) -> Site:
        return next(s for s in self.sites if s.name == name)


@dataclass
class Residual:
    """A block of layers and how its output meets what reached it: `add` (a residual connection), `concat`
    (joined along the last axis; `source`: the block reads the network's input of that index instead), or
    `none` (the layers simply run, as a transformer's)."""

    path: str
    layers: list
    merge: str = "add"
    source: int | None = None
    out_shape: Shape = ()  # a concat block's joined shape (the others keep the shape that reaches them)


def flat_layers(items: list) -> list[Layer]:
    """Every layer of `items`, blocks' (`Residual`) included, in order."""
    out: list[Layer] = []
    for item in items:
        out += flat_layers(item.layers) if isinstance(item, Residual) else [item]
    return out


@dataclass
class CheckedNetwork:
    node: t.Network
    in_shape: Shape  # the input's shape without its rows axis
    layers: list
    out_shape: Shape  # the last layer's output shape without rows
    squeeze: bool  # output declared as real[rows]: drop the unit axis

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def fan_in(self) -> Size:
        """The input's width, for networks on matrices (function-space priors and deep kernels need one)."""
        return self.in_shape[-1] if len(self.in_shape) == 1 else 0

    def param_layers(self) -> list[Layer]:
        """Every layer with sampled sites, blocks' included, in order."""
        return [layer for layer in flat_layers(self.layers) if layer.sites]

    def dense_layers(self) -> list[Layer]:
        return [layer for layer in self.param_layers() if layer.kind == "dense"]

    def deterministic_sites(self) -> list[str]:
        """Sample sites of the layers marked deterministic: their weights, biases and prior locals."""
        return self.sites(deterministic_only=True)

    def hidden_sites(self) -> list[str]:
        """Sites of every layer but the last with parameters: what a last-layer approximation holds at the MAP."""
        last = self.param_layers()[-1].path
        return [s for s in self.sites() if not s.startswith(f"{self.name}.{last}.")]

    def layer_sites(self, deterministic_only: bool = False) -> list[tuple[str, Layer, Site]]:
        """(full site name, its layer, the site) for every layer site, in order."""
        return [
            (f"{self.name}.{layer.path}.{site.name}", layer, site)
            for layer in self.param_layers()
            if layer.deterministic or not deterministic_only
            for site in layer.sites
        ]

    def sites(self, deterministic_only: bool = False) -> list[str]:
        """The network's sample sites (weights, biases, prior locals), in order."""
        sites = []
        for name, _, site in self.layer_sites(deterministic_only):
            sites.append(name)
            if site.prior is not None and site.prior.prior_def is not None:
                sites.extend(f"{name}.{lp.name}" for lp in site.prior.prior_def.locals)
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
            for site, layer, layer_site in net.layer_sites():
                if layer.deterministic:
                    continue
                use = layer_site.prior
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
