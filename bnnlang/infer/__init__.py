"""Stage 4: inference backends behind one interface, returning ArviZ data."""
