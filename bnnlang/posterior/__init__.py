"""Stage 5: what the posterior says: ArviZ's data model of a run's draws, predictions at new inputs and the
split of their uncertainty into epistemic and aleatoric parts."""
