"""regseq-toolkit: small Unix commands for regulatory-sequence modelling.

The library under ``toolkit/`` is pure (no printing, no exits); the command
layer in :mod:`toolkit.cli` does all input and output.
"""

__version__ = "0.1.0"
