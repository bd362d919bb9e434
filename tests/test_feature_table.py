"""The feature table generates the row: its type (and the stub the type checker reads), the
recorder's schema and dtype, and the pipeline's gather."""

from __future__ import annotations

import typing

import pyarrow as pa

from scalp_nautilus import feature_table
from scalp_nautilus.feature_recorder import SCHEMA
from scalp_nautilus.feature_row import FeatureSnapshot
from scalp_nautilus.feature_table import COLUMNS
from scalp_nautilus.feature_table import lob_column


def test_the_stub_is_generated_from_the_table():
    assert feature_table.STUB.read_text() == feature_table.stub_text(), "run: python -m scalp_nautilus.feature_table"


def test_the_row_type_is_the_table():
    assert FeatureSnapshot._fields == tuple(c.name for c in COLUMNS)
    assert typing.get_type_hints(FeatureSnapshot) == {c.name: c.kind for c in COLUMNS}
    assert FeatureSnapshot._field_defaults == {c.name: c.default for c in COLUMNS if c.has_default}
    arrow = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}
    assert SCHEMA == pa.schema([(c.name, arrow[c.kind]) for c in COLUMNS])


def test_lob_columns_by_element_name():
    assert [lob_column(f"imbalance_{k}") for k in range(5)] == [f"lob_{10 + k}" for k in range(5)]
    assert lob_column("bollinger_width") == "lob_20"
