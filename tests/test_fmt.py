"""The canonical formatter (`bnnc fmt`): round trips, idempotence, comments, exact layout."""

from __future__ import annotations

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
    assert _comment_texts(after) == _comment_texts(before)
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
    assert format_source(SAMPLES["comments_inside_headers"]) == """\
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
    net = t.Network("f", "x", t.TypeExpr("real", (t.Dim("N"),)), (t.PriorAssign("bias", call, True),), (layer,))
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


def _interleave(draw, first: list, second: list) -> list:
    """The two lists merged in a random order that keeps each one's own order."""
    order = draw(st.permutations([0] * len(first) + [1] * len(second)))
    a, b = iter(first), iter(second)
    return [next(a) if o == 0 else next(b) for o in order]


def _commas(parts: list[list[str]]) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(parts):
        if i:
            out.append(",")
        out.extend(part)
    return out


def _expr_tokens(draw, e, min_level: int = 1, extra: bool = True) -> list[str]:
    """Source tokens for `e`: the parentheses it needs, and now and then (if `extra`) some it does not."""
    if isinstance(e, t.Number):
        toks = [e.text]
    elif isinstance(e, t.Name):
        toks = [e.id]
    elif isinstance(e, t.Call):
        toks = [e.func, "("] + _arg_tokens(draw, e.args, e.kwargs) + [")"]
    elif isinstance(e, t.Index):
        indices = [[":"] if isinstance(i, t.SliceAll) else _expr_tokens(draw, i) for i in e.indices]
        toks = _expr_tokens(draw, e.base, 5) + ["["] + _commas(indices) + ["]"]
    elif isinstance(e, t.Neg):
        toks = ["-"] + _expr_tokens(draw, e.operand, 3)
    else:
        level = _LEVEL[e.op]
        lo, hi = (5, 3) if e.op == "^" else (level, level + 1)
        toks = _expr_tokens(draw, e.left, lo) + [e.op] + _expr_tokens(draw, e.right, hi)
    if _level(e) < min_level or (extra and draw(st.integers(0, 9)) == 0):
        toks = ["("] + toks + [")"]
    return toks


def _kwarg_tokens(draw, k: t.KwArg) -> list[str]:
    return [k.name, "="] + _expr_tokens(draw, k.value)


def _arg_tokens(draw, args, kwargs) -> list[str]:
    parts = _interleave(draw, [_expr_tokens(draw, a) for a in args], [_kwarg_tokens(draw, k) for k in kwargs])
    return _commas(parts)


def _semi(draw) -> list[str]:
    return [";"] if draw(st.integers(0, 3)) == 0 else []


@st.composite
def dims(draw):
    kind = draw(st.integers(0, 2))
    if kind == 0:
        n = draw(st.integers(0, 999))
        return t.Dim(None, n), [str(n)]
    name = draw(names)
    if kind == 1:
        return t.Dim(name), [name]
    n = draw(st.integers(1, 99))
    sign = draw(st.sampled_from("+-"))
    return t.Dim(name, n if sign == "+" else -n), [name, sign, str(n)]


@st.composite
def shapes(draw, min_size=0):
    ds = draw(st.lists(dims(), min_size=min_size, max_size=3))
    if not ds:
        return (), []
    return tuple(d for d, _ in ds), ["["] + _commas([toks for _, toks in ds]) + ["]"]


@st.composite
def type_exprs(draw):
    base = draw(st.sampled_from(["real", "int"]))
    shape, toks = draw(shapes())
    bound = None
    if draw(st.booleans()):
        (lo, lo_toks), (hi, hi_toks) = draw(dims()), draw(dims())
        bound = (lo, hi)
        toks = toks + ["in"] + lo_toks + [".."] + hi_toks
    return t.TypeExpr(base, shape, bound), [base] + toks


def _name_list(draw, ns: list[str]) -> list[str]:
    return _commas([[n] for n in ns]) + ([","] if draw(st.booleans()) else [])


@st.composite
def imports(draw):
    module = tuple(draw(st.lists(names, min_size=1, max_size=3)))
    ns = draw(st.lists(names, min_size=1, max_size=3))
    toks = ["import", ".".join(module), "("] + _name_list(draw, ns) + [")"] + _semi(draw)
    return t.Import(module, tuple(t.Name(n) for n in ns)), toks


@st.composite
def data_blocks(draw):
    items, toks = [], ["data", "{"]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(names)
        if draw(st.booleans()):
            num = draw(numbers)
            items.append(t.DimConst(name, num))
            toks += [name, "=", num.text] + _semi(draw)
            continue
        te, te_toks = draw(type_exprs())
        columns = None
        toks += [name, ":"] + te_toks
        if draw(st.booleans()):
            cols = draw(st.lists(names, min_size=1, max_size=3))
            columns = tuple(t.Name(c) for c in cols)
            toks += ["from", "("] + _name_list(draw, cols) + [")"]
        toks += _semi(draw)
        items.append(t.DataDecl(name, te, columns))
    return t.DataBlock(tuple(items)), toks + ["}"]


@st.composite
def params(draw):
    name = draw(names)
    shape, shape_toks = draw(shapes())
    dist = draw(calls)
    toks = ["param", name] + shape_toks + ["~"] + _expr_tokens(draw, dist, 6, False) + _semi(draw)
    return t.Param(name, shape, dist), toks


@st.composite
def prior_assigns(draw, is_default: bool):
    role, rhs = draw(names), draw(calls)
    toks = (["default"] if is_default else []) + [role, "~"] + _expr_tokens(draw, rhs, 6, False) + _semi(draw)
    return t.PriorAssign(role, rhs, is_default), toks


@st.composite
def layers(draw, depth: int = 0):
    kind = draw(st.one_of(names, st.sampled_from(["dense", "residual", "tanh"])))
    has_args, has_body = draw(st.booleans()), draw(st.booleans())
    args, kwargs = (draw(_tuples(exprs(2))), draw(_kwargs(exprs(2)))) if has_args else ((), ())
    toks = [kind] + (["("] + _arg_tokens(draw, args, kwargs) + [")"] if has_args else [])
    priors, subs = [], []
    if has_body:
        priors = draw(st.lists(prior_assigns(False), max_size=3))
        subs = draw(st.lists(layers(depth + 1), max_size=2 if depth < 2 else 0))
        body = _interleave(draw, [p[1] for p in priors], [s[1] for s in subs])
        toks += ["{"] + [tok for part in body for tok in part] + ["}"]
    layer = t.Layer(
        kind,
        args,
        kwargs,
        has_args,
        tuple(p for p, _ in priors),
        tuple(s for s, _ in subs),
        has_body,
    )
    return layer, toks + _semi(draw)


@st.composite
def networks(draw):
    name, input_name = draw(names), draw(names)
    out, out_toks = draw(type_exprs())
    defaults = draw(st.lists(prior_assigns(True), max_size=2))
    ls = draw(st.lists(layers(), max_size=4))
    body = _interleave(draw, [d[1] for d in defaults], [x[1] for x in ls])
    toks = ["network", name, "(", input_name, ")", "->"] + out_toks + ["{"]
    toks += [tok for part in body for tok in part] + ["}"]
    net = t.Network(name, input_name, out, tuple(d for d, _ in defaults), tuple(x for x, _ in ls))
    return net, toks


@st.composite
def prior_defs(draw):
    name = draw(names)
    plist, ptoks = [], []
    for _ in range(draw(st.integers(0, 3))):
        pname = draw(names)
        choice = draw(st.integers(0, 2))
        if choice == 0:
            plist.append(t.PriorParam(pname, None))
            ptoks.append([pname])
        else:
            num = draw(numbers)
            if choice == 2:
                num = t.Number(-num.value, "-" + num.text)
                ptoks.append([pname, "=", "-", num.text[1:]])
            else:
                ptoks.append([pname, "=", num.text])
            plist.append(t.PriorParam(pname, num))
    local = draw(st.lists(params(), max_size=2))
    value = draw(calls)
    toks = ["prior", name, "("] + _commas(ptoks) + [")", "{"]
    toks += [tok for _, ltoks in local for tok in ltoks]
    toks += ["value", "~"] + _expr_tokens(draw, value, 6, False) + _semi(draw) + ["}"]
    return t.PriorDef(name, tuple(plist), tuple(p for p, _ in local), value), toks


@st.composite
def observes(draw):
    name, dist = draw(names), draw(calls)
    return t.Observe(name, dist), ["observe", name, "~"] + _expr_tokens(draw, dist, 6, False) + _semi(draw)


@st.composite
def infers(draw):
    method = draw(names)
    args = draw(_tuples(st.one_of(exprs(2), st.builds(t.KwArg, names, exprs(2)))))
    parts = [_kwarg_tokens(draw, a) if isinstance(a, t.KwArg) else _expr_tokens(draw, a) for a in args]
    return t.Infer(method, args), ["infer", method, "("] + _commas(parts) + [")"] + _semi(draw)


items = st.one_of(imports(), data_blocks(), params(), networks(), prior_defs(), observes(), infers())

comment_texts = st.text(alphabet=" abcXYZ019#;:{}()[]=~+*/^.,'\"!?-", max_size=12).map(lambda s: "#" + s)


def _wordy(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@st.composite
def separators(draw, before: str, after: str) -> tuple[str, list[str]]:
    """Layout between two tokens: spaces, newlines, nothing where allowed, or a comment."""
    glue_ok = not (_wordy(before[-1]) and _wordy(after[0])) and not (after[0] == "." and after != "..")
    choice = draw(st.integers(0, 9))
    if choice <= 2:
        return (" ", []) if not glue_ok or choice == 0 else ("", [])
    if choice <= 5:
        return draw(st.sampled_from(["  ", "\n", "\n\n", "\n  ", "\t", " \n\n\n  "])), []
    if choice <= 7:
        return " ", []
    text = draw(comment_texts)
    pad = draw(st.sampled_from(["", " ", "   "]))
    after_pad = draw(st.sampled_from(["\n", "\n\n", "\n    "]))
    return pad + text + after_pad, [text]


@st.composite
def programs(draw):
    """(tree items, source text, comment texts) for a random valid program."""
    drawn = draw(st.lists(items, max_size=6))
    tokens = [tok for _, toks in drawn for tok in toks]
    parts, comments = [], []
    if draw(st.booleans()):
        text = draw(comment_texts)
        parts.append(text + "\n")
        comments.append(text)
    for i, tok in enumerate(tokens):
        if i:
            sep, cs = draw(separators(tokens[i - 1], tok))
            parts.append(sep)
            comments += cs
        parts.append(tok)
    if draw(st.booleans()):
        text = draw(comment_texts)
        parts.append(draw(st.sampled_from(["", " ", "\n", "\n\n"])) + text)
        comments.append(text)
    parts.append(draw(st.sampled_from(["", "\n", "\n\n"])))
    return tuple(item for item, _ in drawn), "".join(parts), comments


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_generated_programs(case) -> None:
    expected_items, src, comments = case
    before = parse(src)
    assert before.items == expected_items  # the generator writes what it means
    assert [c.text for c in before.comments] == comments
    out = check_round_trip(src)
    assert parse(out).items == expected_items
    assert _comment_texts(parse(out)) == [c.rstrip() for c in comments]
    # the bare tree (no spans, no comments, no source) prints to the same tree too
    bare = format_program(t.Program(expected_items))
    assert parse(bare).items == expected_items
    assert format_source(bare) == bare


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
