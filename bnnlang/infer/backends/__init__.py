"""One module per inference backend, each with `run(problem, settings, progress, checkpoint) -> RunResult`;
each is an entry of the registry in `bnnlang.check.backends`."""
