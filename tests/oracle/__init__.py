"""The feature pipeline as it was before it was compiled (issue 22), kept as the oracle of the parity
tests (`tests/test_pipeline_parity.py`): a verbatim copy of `features.py`, `book.py`,
`indicators/*`, `models/ensemble.py` and `models/lstm.py` at commit 2dd848a, with only the imports
pointed here. Not part of the product; do not change its numbers."""
