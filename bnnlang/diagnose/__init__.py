"""Stage 5: posterior diagnostics and summaries."""
