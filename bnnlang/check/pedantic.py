"""`bnnc check --pedantic`: warnings about likely modelling mistakes, never errors (stanc3's habit)."""

from __future__ import annotations

from dataclasses import replace

from ..errors import BnnWarning
from ..syntax import tree as t
from .model import CheckedModel


def _warn(model: CheckedModel, span: t.Span, message: str, hint: str) -> BnnWarning:
    return BnnWarning(message, replace(model.program.at(span), end_column=None), hint)


def pedantic_warnings(model: CheckedModel) -> list[BnnWarning]:
    out: list[BnnWarning] = []
    for p in model.params:
        if p.dist.func == "Uniform":
            out.append(
                _warn(
                    model,
                    p.span,
                    f"'{p.name}' has a Uniform prior with hard bounds.",
                    "Hard bounds hurt sampling near the edges; a soft prior (e.g. Normal) is usually better.",
                )
            )
        for arg in list(p.dist.args) + [kw.value for kw in p.dist.kwargs]:
            if isinstance(arg, t.Number) and abs(arg.value) >= 100:
                out.append(
                    _warn(
                        model,
                        arg.span,
                        f"'{p.name}' has a prior argument of {arg.text}.",
                        "Priors work best on unit scale; standardise the data instead of widening priors.",
                    )
                )
    for net in model.networks.values():
        has_default = {d.role for d in net.node.defaults}
        for layer in net.dense_layers():
            explicit = {layer.weight.role} if layer.weight.call.span.line else set()
            if "weight" not in has_default and not explicit:
                out.append(
                    _warn(
                        model,
                        net.node.span,
                        f"Layer {net.name}.{layer.path} uses the built-in weight prior Normal(0, 1/sqrt(fan_in)).",
                        "Say it explicitly with `default weight ~ neal()` (import std.priors (neal)).",
                    )
                )
                break
    return out
