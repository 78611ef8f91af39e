"""Where chains run: JAX devices on this machine (`chains`, `setup`) and processes across hosts (`cluster`,
`distributed`)."""
