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


def test_research_reads_names_and_thresholds_from_the_table():
    """No LOB column by index and no Hurst band or ensemble gate written into research: they come from
    the table, so that a change of the vector's layout or of a default reaches research."""
    import re
    from pathlib import Path

    from scalp_nautilus import research
    from scalp_nautilus.research import edge

    by_index = re.compile(r"lob_(\{|\d)")
    band = re.compile(r"(hurst|\bhs?\b|\bH\b|conf)\s*[<>]=?\s*0\.\d")
    for path in Path(research.__file__).parent.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not by_index.search(line), f"{path.name}:{number}: {line.strip()}"
            assert not band.search(line), f"{path.name}:{number}: {line.strip()}"
    columns = {s.name: s.columns for s in edge.SIGNALS}
    assert columns["lob_imbalance_2"] == (lob_column("imbalance_2"),)
    names = [name for name, _ in edge.subsets(_hurst_rows())]
    low, high = feature_table.HURST_MEAN_REVERSION_BELOW, feature_table.HURST_MOMENTUM_ABOVE
    assert names[1:4] == [f"hurst<{low:g}", f"hurst {low:g}-{high:g}", f"hurst>{high:g}"]


def _hurst_rows():
    import pandas as pd

    return pd.DataFrame({"hurst": [0.3, 0.5, 0.7], "cold": ["", "", ""]})
