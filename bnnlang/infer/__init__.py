"""Stage 4: inference. A backend (one module in `backends/`, one entry in `bnnlang.check.backends`) turns a
`Problem` (the model, its data, how to cut it into minibatches) into draws (`RunResult`).

Shared machinery, used by every backend: `driver` (the chunked loop), `starts` (MAP fits and deep-ensemble
starts), `checkpoint`, `progress`, `memory`, `devices/` (chains over devices and hosts). `run.run_inference` is
the one entry point.
"""
