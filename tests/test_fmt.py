"""The canonical formatter (`bnnc fmt`): round trips, idempotence, comments, exact layout."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnlang.syntax import tree as t
from bnnlang.syntax.format import format_expr, format_program, format_source
from bnnlang.syntax.parser import RESERVED, parse

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- helpers


def _comment_texts(program: t.Program) -> list[str]:
    return [c.text.rstrip() for c in program.comments]


def _own_line(program: t.Program) -> list[bool]:
    """For each comment, whether only whitespace precedes it on its line."""
    lines = program.source.split("\n")
    return [not lines[c.line - 1][: c.column - 1].strip() for c in program.comments]


def _check_comments(before: t.Program, after: t.Program) -> None:
    """All comments kept in order; a comment on a line of its own stays on a line of its own."""
    assert _comment_texts(after) == _comment_texts(before)
    for was, now in zip(_own_line(before), _own_line(after)):
        assert now or not was


def _check_layout(out: str) -> None:
    """What every formatted text looks like, whatever it came from."""
    if not out:
        return
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert not out.startswith("\n")
    assert "\n\n\n" not in out
    depth = 0
    for line in out.split("\n")[:-1]:
        assert line == line.rstrip(), f"trailing whitespace in {line!r}"
        assert "\t" not in line
        stripped = line.lstrip(" ")
        code = stripped.split("#", 1)[0].rstrip()
        if not stripped:
            continue
        if code.startswith("}"):
            depth -= 1
        assert len(line) - len(stripped) == 2 * depth, f"bad indentation: {line!r}"
        if code.endswith("{"):
            depth += 1
        if code and not code.endswith("{") and not code.startswith("}"):
            assert ";" not in code or code.endswith("}"), f"';' outside a one-line layer body: {line!r}"
    assert depth == 0


def check_round_trip(src: str) -> str:
    """Format `src`; check the tree, the comments and idempotence; return the text."""
    before = parse(src)
    out = format_source(src)
    after = parse(out)
    assert after.items == before.items
    _check_comments(before, after)
    assert format_source(out) == out
    assert format_program(after) == out
    _check_layout(out)
    return out


# ---------------------------------------------------------------- files of the repository


def _bnn_files() -> list[Path]:
    return sorted(p for folder in ("stdlib", "examples") for p in (ROOT / folder).rglob("*.bnn"))


@pytest.mark.parametrize("path", _bnn_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_files_round_trip(path: Path) -> None:
    check_round_trip(path.read_text(encoding="utf-8"))


def test_stdlib_is_already_canonical() -> None:
    src = (ROOT / "stdlib" / "priors.bnn").read_text(encoding="utf-8")
    assert format_source(src) == src


# ---------------------------------------------------------------- inline samples

SAMPLES = {
    "everything": """\
# leading comment of the file

import std.priors (neal, horseshoe) # trailing on import
import std.more.priors (laplace_scale,)

# the data
data { # after the opening brace
  x: real[N, D]   # features
  y: int[N] in 0..K-1 from (label)
  z: real[N, 2] from (a, b) ; w: real in 0..1
  t: int[N+1] in 1..K+2
  # before K
  K = 3; scale = 1e-3
  # before the closing brace
} # after the closing brace

param sigma ~ HalfNormal(0.50)
param a[G, D-1] ~ Normal(mu, tau) ; param b[3] ~ Normal(0, 1)
param c ~ Normal(-(a + b) * c / d ^ 2 ^ -e - -f, (a - b) - c + (a - (b - c)))
param d ~ Normal(-a ^ 2 + (-a) ^ 2 + 2 ^ -1, a / (b * c) * (a / b) * x[:, 0][i, j])
param e ~ Gamma(f(x, k = 2, scale = .5)[0], rate = ((1)))

network mlp(x) -> real[N] {
  # first comment in the network
  default weight ~ neal()
  default bias ~ Normal(0, 1)   # default bias
  dense(50, tanh) { weight ~ horseshoe(tau0 = 0.1); bias ~ Normal(0, 1) }
  dense(20, activation = relu) {
    weight ~ neal(scale = 2.0) # inside a body
  }
  residual { dense(50, tanh) dense(50) { bias ~ Normal(0, 2) } relu }
  tanh
  dense() {}
  dense(1)
}

# a prior with a negative default
prior hs(tau0 = 1.0, shift = -2, rate) {
  param tau ~ HalfCauchy(tau0)   # global scale
  param lam[fan_out] ~ HalfCauchy(1)
  value ~ Normal(shift, tau * lam)
}

observe y ~ Normal(mlp(x)[:, 0], sigma)
infer nuts(chains = 4, warmup = 500, samples = 500, 7)
# end of file

# really the end
""",
    "empty": "",
    "only_comments": "# one\n\n\n# two\n#three   \n",
    "one_line": "param a ~ N(0, 1) param b ~ N(a, 1) observe y ~ N(b, 1) # last on the line\n",
    "crlf": "param a ~ N(0, 1) # c\r\n\r\nparam b ~ N(0, 1)\r\n",
    "comments_inside_headers": """\
network net(x) # after the name
  -> real[N]
{ dense(3, # in the arguments
   4) { weight ~ f() }
  dense(2) { # in a body
  }
}
prior p(a = 1, # in the parameters
        b = -2) {
  value ~ N(a, b)  # value
}
data
# between data and brace
{ x: real }
""",
    "semicolons_and_blanks": """\
param a ~ N(0, 1) ;


param b ~ N(0, 1)
;
observe y ~ N(a, b);infer nuts();
""",
    "long_layer_body": (
        "network n(x) -> real[N] {\n"
        "  dense(500, tanh) { weight ~ horseshoe(tau0 = 0.1, scale = 1.0); "
        "bias ~ Normal(0, some_long_name_for_a_scale) }\n"
        "}\n"
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_round_trip(name: str) -> None:
    check_round_trip(SAMPLES[name])


def test_long_layer_body_goes_multi_line() -> None:
    out = format_source(SAMPLES["long_layer_body"])
    assert out == (
        "network n(x) -> real[N] {\n"
        "  dense(500, tanh) {\n"
        "    weight ~ horseshoe(tau0 = 0.1, scale = 1.0)\n"
        "    bias ~ Normal(0, some_long_name_for_a_scale)\n"
        "  }\n"
        "}\n"
    )


def test_empty_and_comment_only() -> None:
    assert format_source("") == ""
    assert format_source("  \n\n") == ""
    assert format_source(SAMPLES["only_comments"]) == "# one\n\n# two\n#three\n"


def test_comments_in_headers() -> None:
    assert (
        format_source(SAMPLES["comments_inside_headers"])
        == """\
# after the name
network net(x) -> real[N] {
  # in the arguments
  dense(3, 4) { weight ~ f() }
  dense(2) {  # in a body
  }
}

# in the parameters
prior p(a = 1, b = -2) {
  value ~ N(a, b)  # value
}

data {
  # between data and brace
  x: real
}
"""
    )


def test_blank_lines_kept_once_and_semicolons_dropped() -> None:
    assert format_source(SAMPLES["semicolons_and_blanks"]) == (
        "param a ~ N(0, 1)\n\nparam b ~ N(0, 1)\n\nobserve y ~ N(a, b)\n\ninfer nuts()\n"
    )


# ---------------------------------------------------------------- exact canonical text

MESSY = (
    "import   std.priors(neal,horseshoe,) ; data{x:real[N,D] y : int[ N ] in 0 .. K-1 from(a,b);K=3}"
    "param sigma~HalfNormal((0.5));param w[ D ]~Normal(((0)),(1)) network mlp ( x )->real[N]{default weight"
    "~neal() dense(50,tanh){weight~neal() bias~Normal(0,1)} residual{dense(50,tanh)dense(50)} dense(1)}"
    " prior p(a=1.0,b=-2){param t~HalfCauchy(a) value~Normal(0,(t*(a+b))^2)} observe y~Normal(mlp(x)[:,0]"
    "-(1-2)+(3*4),sigma) infer nuts(chains=4,warmup=500)"
)

MESSY_EXPECTED = """\
import std.priors (neal, horseshoe)

data {
  x: real[N, D]
  y: int[N] in 0..K-1 from (a, b)
  K = 3
}

param sigma ~ HalfNormal(0.5)
param w[D] ~ Normal(0, 1)

network mlp(x) -> real[N] {
  default weight ~ neal()
  dense(50, tanh) { weight ~ neal(); bias ~ Normal(0, 1) }
  residual {
    dense(50, tanh)
    dense(50)
  }
  dense(1)
}

prior p(a = 1.0, b = -2) {
  param t ~ HalfCauchy(a)
  value ~ Normal(0, (t * (a + b)) ^ 2)
}

observe y ~ Normal(mlp(x)[:, 0] - (1 - 2) + 3 * 4, sigma)

infer nuts(chains = 4, warmup = 500)
"""

MESSY_COMMENTS = """\
param a ~ Normal(0,   # inside
  1)   # after
# own line

param b~N( -a^2, (-a)^2, 2^-1, a-(b-c), (a-b)-c, a/(b*c), --a );  # semi
data{ # header
x:real  # x
# before close
}  # after data
network n(x)->real[N]{dense(3){weight~f() # in body
}}
# end
"""

MESSY_COMMENTS_EXPECTED = """\
# inside
param a ~ Normal(0, 1)  # after
# own line

param b ~ N(-a ^ 2, (-a) ^ 2, 2 ^ -1, a - (b - c), a - b - c, a / (b * c), --a)  # semi

data {  # header
  x: real  # x
  # before close
}  # after data

network n(x) -> real[N] {
  dense(3) {
    weight ~ f()  # in body
  }
}
# end
"""


@pytest.mark.parametrize(
    ("src", "expected"), [(MESSY, MESSY_EXPECTED), (MESSY_COMMENTS, MESSY_COMMENTS_EXPECTED)], ids=["code", "comments"]
)
def test_messy_source_formats_exactly(src: str, expected: str) -> None:
    assert format_source(src) == expected
    assert check_round_trip(src) == expected


def test_span_free_tree_formats() -> None:
    """A tree built by hand (no spans, no source) prints in canonical order."""
    call = t.Call("Normal", (t.Number(0.0, "0"), t.Number(1.0, "1")))
    layer = t.Layer(
        "dense",
        (t.Number(3.0, "3"),),
        has_args=True,
        priors=(t.PriorAssign("weight", call),),
        layers=(),
        has_body=True,
    )
    net = t.Network("f", ("x",), t.TypeExpr("real", (t.Dim("N"),)), (t.PriorAssign("bias", call, True),), (layer,))
    program = t.Program((t.Param("s", (), call), net))
    out = format_program(program)
    assert out == (
        "param s ~ Normal(0, 1)\n\n"
        "network f(x) -> real[N] {\n"
        "  default bias ~ Normal(0, 1)\n"
        "  dense(3) { weight ~ Normal(0, 1) }\n"
        "}\n"
    )
    assert parse(out).items == program.items


# ---------------------------------------------------------------- generated programs

# Fixed pools keep generation cheap; the names include near-misses of reserved words.
_NAMES = [
    "a", "b", "x", "y", "N", "K", "mu", "tau", "sigma", "e", "E1", "dense", "tanh", "relu",
    "Normal", "f", "g_2", "x_1", "valuex", "in_", "real2", "ints", "defaults", "from1", "Data", "Prior",
]  # fmt: skip
assert not set(_NAMES) & set(RESERVED)
_NUMBER_TEXTS = ["0", "1", "2", "10", "007", "0.5", "0.50", "1.0", ".5", "1e-3", "2E+10", "3.25e2", "1e5", "12.125"]
names = st.sampled_from(_NAMES)
numbers = st.sampled_from(_NUMBER_TEXTS).map(lambda s: t.Number(float(s), s))


def _tuples(elements, min_size=0, max_size=3):
    return st.lists(elements, min_size=min_size, max_size=max_size).map(tuple)


@st.composite
def exprs(draw, budget: int = 8):
    """Random expression trees of at most about `budget` inner nodes, any nesting and precedence."""
    left = [budget]

    def gen():
        kind = draw(st.integers(0, 9)) if left[0] > 0 else draw(st.integers(0, 2))
        if kind == 0:
            return draw(numbers)
        if kind == 1:
            return t.Name(draw(names))
        if kind == 2:
            return t.Call(draw(names))
        left[0] -= 1
        if kind <= 5:
            return t.BinOp(draw(st.sampled_from("+-*/^")), gen(), gen())
        if kind == 6:
            return t.Neg(gen())
        if kind == 7:
            count = draw(st.integers(1, 3))
            return t.Index(gen(), tuple(t.SliceAll() if draw(st.booleans()) else gen() for _ in range(count)))
        args = tuple(gen() for _ in range(draw(st.integers(0, 3))))
        kwargs = tuple(t.KwArg(draw(names), gen()) for _ in range(draw(st.integers(0, 2))))
        return t.Call(draw(names), args, kwargs)

    return gen()


def _kwargs(values):
    return st.lists(st.builds(t.KwArg, names, values), max_size=2).map(tuple)


calls = st.builds(t.Call, names, _tuples(exprs(4)), _kwargs(exprs(2)))

_LEVEL = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}


def _level(e) -> int:
    if isinstance(e, t.BinOp):
        return _LEVEL[e.op]
    return {t.Neg: 3, t.Index: 5}.get(type(e), 6)


# Trees are drawn with Hypothesis (so they shrink); the layout of their source text
# (spacing, newlines, comments, ';', extra parentheses, argument order) comes from
# one seeded random.Random, which keeps generation fast.

dims = st.one_of(
    st.builds(t.Dim, st.none(), st.integers(0, 999)),
    st.builds(t.Dim, names),
    st.builds(t.Dim, names, st.integers(-99, 99).filter(bool)),
)
shapes = _tuples(dims)
type_exprs = st.builds(t.TypeExpr, st.sampled_from(["real", "int"]), shapes, st.none() | st.tuples(dims, dims))
name_nodes = _tuples(st.builds(t.Name, names), 1, 3)
imports = st.builds(t.Import, _tuples(names, 1, 3), name_nodes)
data_items = st.one_of(
    st.builds(t.DimConst, names, numbers),
    st.builds(t.DataDecl, names, type_exprs, st.none() | name_nodes),
)
data_blocks = st.builds(t.DataBlock, _tuples(data_items, 0, 4))
params = st.builds(t.Param, names, shapes, calls)
observes = st.builds(t.Observe, names, calls)
infers = st.builds(t.Infer, names, _tuples(st.one_of(exprs(2), st.builds(t.KwArg, names, exprs(2)))))
negative = numbers.map(lambda n: t.Number(-n.value, "-" + n.text))
prior_defs = st.builds(
    t.PriorDef,
    names,
    _tuples(st.builds(t.PriorParam, names, st.none() | numbers | negative)),
    _tuples(params, 0, 2),
    calls,
)


def prior_assigns(is_default: bool):
    return st.builds(t.PriorAssign, names, calls, st.just(is_default))


@st.composite
def layers(draw, depth: int = 0):
    kind = draw(st.one_of(names, st.sampled_from(["dense", "residual", "tanh"])))
    has_args, has_body = draw(st.booleans()), draw(st.booleans())
    args, kwargs = (draw(_tuples(exprs(2))), draw(_kwargs(exprs(2)))) if has_args else ((), ())
    priors = draw(_tuples(prior_assigns(False))) if has_body else ()
    subs = draw(_tuples(layers(depth + 1), 0, 2)) if has_body and depth < 2 else ()
    return t.Layer(kind, args, kwargs, has_args, priors, subs, has_body)


networks = st.builds(
    t.Network, names, _tuples(names, 1, 3), type_exprs, _tuples(prior_assigns(True), 0, 2), _tuples(layers(), 0, 4)
)
items = st.one_of(imports, data_blocks, params, networks, prior_defs, observes, infers)


def _interleave(rnd: random.Random, first: list, second: list) -> list:
    """The two lists merged in a random order that keeps each one's own order."""
    order = [0] * len(first) + [1] * len(second)
    rnd.shuffle(order)
    a, b = iter(first), iter(second)
    return [next(a) if o == 0 else next(b) for o in order]


def _flat(parts: list[list[str]]) -> list[str]:
    return [tok for part in parts for tok in part]


def _commas(parts: list[list[str]]) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(parts):
        if i:
            out.append(",")
        out.extend(part)
    return out


def _expr_tokens(rnd: random.Random, e, min_level: int = 1, extra: bool = True) -> list[str]:
    """Source tokens for `e`: the parentheses it needs, and now and then (if `extra`) some it does not."""
    if isinstance(e, t.Number):
        toks = [e.text]
    elif isinstance(e, t.Name):
        toks = [e.id]
    elif isinstance(e, t.Call):
        toks = [e.func, "("] + _arg_tokens(rnd, e.args, e.kwargs) + [")"]
    elif isinstance(e, t.Index):
        indices = [[":"] if isinstance(i, t.SliceAll) else _expr_tokens(rnd, i) for i in e.indices]
        toks = _expr_tokens(rnd, e.base, 5) + ["["] + _commas(indices) + ["]"]
    elif isinstance(e, t.Neg):
        toks = ["-"] + _expr_tokens(rnd, e.operand, 3)
    else:
        level = _LEVEL[e.op]
        lo, hi = (5, 3) if e.op == "^" else (level, level + 1)
        toks = _expr_tokens(rnd, e.left, lo) + [e.op] + _expr_tokens(rnd, e.right, hi)
    if _level(e) < min_level or (extra and rnd.randrange(10) == 0):
        toks = ["("] + toks + [")"]
    return toks


def _kwarg_tokens(rnd: random.Random, k: t.KwArg) -> list[str]:
    return [k.name, "="] + _expr_tokens(rnd, k.value)


def _arg_tokens(rnd: random.Random, args, kwargs) -> list[str]:
    return _commas(_interleave(rnd, [_expr_tokens(rnd, a) for a in args], [_kwarg_tokens(rnd, k) for k in kwargs]))


def _call_tokens(rnd: random.Random, call: t.Call) -> list[str]:
    return _expr_tokens(rnd, call, 6, extra=False)


def _semi(rnd: random.Random) -> list[str]:
    return [";"] if rnd.randrange(4) == 0 else []


def _dim_tokens(d: t.Dim) -> list[str]:
    if d.name is None:
        return [str(d.offset)]
    if d.offset == 0:
        return [d.name]
    return [d.name, "+" if d.offset > 0 else "-", str(abs(d.offset))]


def _shape_tokens(shape) -> list[str]:
    return ["["] + _commas([_dim_tokens(d) for d in shape]) + ["]"] if shape else []


def _type_tokens(te: t.TypeExpr) -> list[str]:
    toks = [te.base] + _shape_tokens(te.shape)
    if te.bound is not None:
        toks += ["in"] + _dim_tokens(te.bound[0]) + [".."] + _dim_tokens(te.bound[1])
    return toks


def _name_list(rnd: random.Random, ns) -> list[str]:
    return _commas([[n.id] for n in ns]) + ([","] if rnd.randrange(2) else [])


def _param_tokens(rnd: random.Random, p: t.Param) -> list[str]:
    return ["param", p.name] + _shape_tokens(p.shape) + ["~"] + _call_tokens(rnd, p.dist) + _semi(rnd)


def _prior_tokens(rnd: random.Random, p: t.PriorAssign) -> list[str]:
    return (["default"] if p.is_default else []) + [p.role, "~"] + _call_tokens(rnd, p.rhs) + _semi(rnd)


def _layer_tokens(rnd: random.Random, layer: t.Layer) -> list[str]:
    toks = [layer.kind]
    if layer.has_args:
        toks += ["("] + _arg_tokens(rnd, layer.args, layer.kwargs) + [")"]
    if layer.has_body:
        priors = [_prior_tokens(rnd, p) for p in layer.priors]
        toks += ["{"] + _flat(_interleave(rnd, priors, [_layer_tokens(rnd, s) for s in layer.layers])) + ["}"]
    return toks + _semi(rnd)


def _item_tokens(rnd: random.Random, item) -> list[str]:
    """Source tokens of a top-level item, written in the item's own order."""
    if isinstance(item, t.Import):
        return ["import", ".".join(item.module), "("] + _name_list(rnd, item.names) + [")"] + _semi(rnd)
    if isinstance(item, t.DataBlock):
        toks = ["data", "{"]
        for d in item.items:
            if isinstance(d, t.DimConst):
                toks += [d.name, "=", d.value.text]
            else:
                toks += [d.name, ":"] + _type_tokens(d.type)
                if d.columns is not None:
                    toks += ["from", "("] + _name_list(rnd, d.columns) + [")"]
            toks += _semi(rnd)
        return toks + ["}"]
    if isinstance(item, t.Param):
        return _param_tokens(rnd, item)
    if isinstance(item, t.Network):
        inputs = [tok for i, name in enumerate(item.inputs) for tok in ([","] if i else []) + [name]]
        toks = ["network", item.name, "(", *inputs, ")", "->"] + _type_tokens(item.output) + ["{"]
        defaults = [_prior_tokens(rnd, d) for d in item.defaults]
        body = _interleave(rnd, defaults, [_layer_tokens(rnd, x) for x in item.layers])
        return toks + _flat(body) + ["}"]
    if isinstance(item, t.PriorDef):
        ps = []
        for p in item.params:
            if p.default is None:
                ps.append([p.name])
            elif p.default.text.startswith("-"):
                ps.append([p.name, "=", "-", p.default.text[1:]])
            else:
                ps.append([p.name, "=", p.default.text])
        toks = ["prior", item.name, "("] + _commas(ps) + [")", "{"]
        toks += _flat([_param_tokens(rnd, p) for p in item.locals])
        return toks + ["value", "~"] + _call_tokens(rnd, item.value) + _semi(rnd) + ["}"]
    if isinstance(item, t.Observe):
        return ["observe", item.name, "~"] + _call_tokens(rnd, item.dist) + _semi(rnd)
    args = [_kwarg_tokens(rnd, a) if isinstance(a, t.KwArg) else _expr_tokens(rnd, a) for a in item.args]
    return ["infer", item.method, "("] + _commas(args) + [")"] + _semi(rnd)


_COMMENT_CHARS = " abcXYZ019#;:{}()[]=~+*/^.,'\"!?-"


def _comment(rnd: random.Random) -> str:
    return "#" + "".join(rnd.choice(_COMMENT_CHARS) for _ in range(rnd.randrange(13)))


def _wordy(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _separator(rnd: random.Random, before: str, after: str, comments: list[str]) -> str:
    """Layout between two tokens: spaces, newlines, nothing where allowed, or a comment."""
    glue_ok = not (_wordy(before[-1]) and _wordy(after[0])) and not (after[0] == "." and after != "..")
    choice = rnd.randrange(10)
    if choice <= 2:
        return "" if glue_ok and choice else " "
    if choice <= 5:
        return rnd.choice(["  ", "\n", "\n\n", "\n  ", "\t", " \n\n\n  "])
    if choice <= 7:
        return " "
    comments.append(_comment(rnd))
    return rnd.choice(["", " ", "   "]) + comments[-1] + rnd.choice(["\n", "\n\n", "\n    "])


@st.composite
def programs(draw):
    """(tree items, source text, comment texts) for a random valid program."""
    tree_items = draw(_tuples(items, 0, 6))
    rnd = draw(st.randoms(use_true_random=True))
    tokens = _flat([_item_tokens(rnd, item) for item in tree_items])
    parts, comments = [], []
    if rnd.randrange(2):
        comments.append(_comment(rnd))
        parts.append(comments[-1] + "\n")
    for i, tok in enumerate(tokens):
        if i:
            parts.append(_separator(rnd, tokens[i - 1], tok, comments))
        parts.append(tok)
    if rnd.randrange(2):
        comments.append(_comment(rnd))
        parts.append(rnd.choice(["", " ", "\n", "\n\n"]) + comments[-1])
    parts.append(rnd.choice(["", "\n", "\n\n"]))
    return tree_items, "".join(parts), comments


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_generated_programs(case) -> None:
    expected_items, src, comments = case
    before = parse(src)
    assert before.items == expected_items  # the generator writes what it means
    assert [c.text for c in before.comments] == comments
    out = format_program(before)
    after = parse(out)
    assert after.items == expected_items
    assert _comment_texts(after) == [c.rstrip() for c in comments]
    _check_comments(before, after)
    assert format_program(after) == out  # idempotent
    _check_layout(out)
    # the bare tree (no spans, no comments, no source) prints to the same tree too
    bare = format_program(t.Program(expected_items))
    bare_tree = parse(bare)
    assert bare_tree.items == expected_items
    assert format_program(bare_tree) == bare


def _grouping_parens(text: str) -> list[tuple[int, int]]:
    """(open, close) positions of parentheses that group, not those of a call."""
    pairs, stack = [], []
    for i, ch in enumerate(text):
        if ch == "(":
            stack.append((i, i > 0 and _wordy(text[i - 1])))
        elif ch == ")":
            start, is_call = stack.pop()
            if not is_call:
                pairs.append((start, i))
    return pairs


@settings(max_examples=200, deadline=None)
@given(exprs(20))
def test_expressions_print_with_minimal_parentheses(e) -> None:
    text = format_expr(e)
    src = f"observe y ~ f({text})"
    assert parse(src).items[0].dist.args == (e,)
    for start, end in _grouping_parens(text):
        fewer = text[:start] + text[start + 1 : end] + text[end + 1 :]
        try:
            reparsed = parse(f"observe y ~ f({fewer})").items[0].dist.args
        except Exception:  # noqa: BLE001 - any parse failure means the parentheses were needed
            continue
        assert reparsed != (e,), f"needless parentheses in {text!r}"


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("(a / b) / c", "a / b / c"),
        ("a / (b / c)", "a / (b / c)"),
        ("(a * b) + (c * d)", "a * b + c * d"),
        ("(a + b) * (c - d)", "(a + b) * (c - d)"),
        ("-a ^ 2", "-a ^ 2"),
        ("-(a ^ 2)", "-a ^ 2"),
        ("(-a) ^ 2", "(-a) ^ 2"),
        ("2 ^ -1", "2 ^ -1"),
        ("2 ^ (-1)", "2 ^ -1"),
        ("a ^ (b ^ c)", "a ^ b ^ c"),
        ("(a ^ b) ^ c", "(a ^ b) ^ c"),
        ("-(-a)", "--a"),
        ("a - (-b)", "a - -b"),
        ("(a + b)[0]", "(a + b)[0]"),
        ("(x)[:, 0]", "x[:, 0]"),
        ("(f(x))[i]", "f(x)[i]"),
        ("(x[0]) ^ 2", "x[0] ^ 2"),
        ("1e-3 * 0.50", "1e-3 * 0.50"),
        ("-(a * b)", "-(a * b)"),
        ("(-a) * b", "-a * b"),
        ("f(k=(a+b), (c))", "f(c, k = a + b)"),
    ],
)
def test_expression_cases(src: str, expected: str) -> None:
    assert format_source(f"observe y ~ f({src})") == f"observe y ~ f({expected})\n"
