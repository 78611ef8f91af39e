"""The one rule for identifiers in the generated program.

A model name becomes the same Python identifier, except where it would shadow or break what the program
itself binds (its imports, module-level names, builtins it calls) or is a Python keyword: then it is
`_bnn_NAME`. Model names cannot start with "_" (the grammar), so that spelling collides with no other model
name, and neither do the program's own underscore names: `_shift_NAME`, `_scale_NAME` and `_Z_NAME` take the
name as written after a prefix, which is a valid identifier whatever the name.
"""

from __future__ import annotations

import keyword
import re

# Names the generated program binds at module level, imports, or reads as builtins.
GENERATED_NAMES = frozenset(
    """jax jnp numpyro dist tinygp np math sys model main noncentered DATA DIM_ARGS DETERMINISTIC GP_NORMAL
    STANDARDIZED NONCENTERED INFER int float len range sorted KeyError TypeError ValueError
    itertools max slice sum tuple zip bool""".split()
) | frozenset(keyword.kwlist)

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def python_name(name: str) -> str:
    """The identifier a bnnlang name has in the generated program."""
    if not _IDENT.match(name):  # defence in depth: the grammar already guarantees it
        raise ValueError(f"not an identifier: {name!r}")
    return f"_bnn_{name}" if name in GENERATED_NAMES else name


def inducing_argument(gp: str) -> str:
    """The model's keyword argument holding a sparse GP's inducing inputs (chosen once from the training data)."""
    return f"_Z_{gp}"
