"""The held-out validation share: one home for the number every command and script uses.

Search plans, the kept fine-tuning epoch and the converged baseline's training
all hold out the same seeded slice of the training split
(:meth:`wqrc.data.Dataset.validation_split`); it is never trained on, and the
test split is never used for a choice. This module imports nothing, so the CLI
can read the default at start-up without loading numpy.
"""
DEFAULT_VAL_SPLIT = 0.1
