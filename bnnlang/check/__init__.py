"""Stage 2: name resolution, imports, shapes and data checks (no JAX)."""
