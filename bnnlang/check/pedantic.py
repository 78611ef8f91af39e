"""`bnnc check --pedantic`: warnings about likely modelling mistakes, never errors (stanc3's habit)."""

from __future__ import annotations

from dataclasses import replace

from ..errors import BnnWarning, Location
from ..syntax import tree as t
from . import messages as msg
from .model import CheckedModel


def _at(model: CheckedModel, span: t.Span) -> Location:
    """Where a warning points: a caret under the first column only, however long the span."""
    return replace(model.program.at(span), end_column=None)


def pedantic_warnings(model: CheckedModel) -> list[BnnWarning]:
    out: list[BnnWarning] = []
    for p in model.params:
        if p.dist.func == "Uniform":
            out.append(msg.uniform_prior(_at(model, p.span), p.name))
        for arg in list(p.dist.args) + [kw.value for kw in p.dist.kwargs]:
            if isinstance(arg, t.Number) and abs(arg.value) >= 100:
                out.append(msg.large_prior_argument(_at(model, arg.span), p.name, arg.text))
    for net in model.networks.values():
        has_default = {d.role for d in net.node.defaults}
        for layer in net.param_layers():
            weights = [s for s in layer.sites if s.role == "weight"]
            explicit = any(s.prior.call.span.line for s in weights)
            if weights and "weight" not in has_default and not explicit:
                out.append(msg.implicit_weight_prior(_at(model, net.node.span), net.name, layer.path))
                break
    return out
