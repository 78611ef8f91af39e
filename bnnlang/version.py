"""bnnlang's version: what run directories, reports and generated programs record."""

__version__ = "0.1.0"
