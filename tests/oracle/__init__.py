"""The feature pipeline as it was before it was compiled (issue 22), kept as the oracle of the parity
tests (`tests/test_pipeline_parity.py`): a verbatim copy of `features.py`, `indicators/*`,
`models/ensemble.py` and `models/lstm.py` at commit 2dd848a, and of `book.py` and
`indicators/regime.py` as main had them at 42755b8 (the spread in ticks, issue 24), with only the
imports pointed here. Not part of the product; do not change its numbers."""
