"""bnnlang: a declarative language for Bayesian neural networks, compiled to NumPyro.

    import bnnlang
    model = bnnlang.load("examples/regression_1d.bnn")
    print(model.python_source)          # the generated NumPyro program
    run = model.run("examples/data/regression_1d.csv", chains=2)

Importing bnnlang does not import JAX; running a model does.
"""

from .errors import BnnError
from .version import __version__


def load(path):
    """Parse and check a .bnn file; returns a `bnnlang.api.Model`."""
    from .api import load as _load

    return _load(path)


def open_run(path):
    """Read a run directory written by `bnnc run`."""
    from .api import open_run as _open

    return _open(path)


__all__ = ["BnnError", "load", "open_run", "__version__"]
