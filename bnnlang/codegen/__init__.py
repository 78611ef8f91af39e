"""Stage 3: checked model -> NumPyro program (Python source)."""

from .emit import generate

__all__ = ["generate"]
