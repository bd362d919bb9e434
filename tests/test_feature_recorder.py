"""The feature recorder writes every snapshot field as a named, typed column, row for row."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scalp_nautilus.feature_recorder import SCHEMA
from scalp_nautilus.feature_recorder import FeatureRecorder
from scalp_nautilus.features import FeatureSnapshot
from tests.test_features import book
from tests.test_features import small_pipeline

S = 1_000_000_000


def test_rows_round_trip_through_parquet(tmp_path):
    p = small_pipeline()
    rows = []
    with FeatureRecorder(tmp_path / "f.parquet", rows_per_group=64) as rec:  # several row groups
        for i in range(300):
            p.on_trade(100.1, 1.0, 1 if i % 3 else -1, i * S // 2)
            row = p.on_book(book(i * S // 2, bid_size=1 + i % 4, mid=100 + 0.1 * (i % 5)))
            rec.record(row)
            rows.append(row)
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert list(frame.columns) == list(FeatureSnapshot._fields) == SCHEMA.names
    for name in (
        "ts_event",
        "mid",
        "ofi",
        "ofi_z",
        "vpin",
        "vpin_regime",
        "cvd",
        "cvd_divergence",
        "hurst",
        "ou_z",
        "ou_active",
        "parkinson_vol",
        "realized_vol",
        "blend_vol",
        "spread_bps",
        "depth_imbalance",
        "resilience",
        "kyle_lambda",
        "regime_multiplier",
        "funding_z",
        *(f"lob_{i}" for i in range(21)),
    ):
        assert name in frame.columns
    assert frame.shape[0] == len(rows) == rec.rows
    assert [tuple(r) for r in frame.itertuples(index=False)] == [tuple(r) for r in rows]
    assert str(frame["ts_event"].dtype) == "int64" and str(frame["ou_active"].dtype) == "bool"


def test_column_chunks_and_single_rows_keep_their_order_and_row_groups(tmp_path):
    """The replay's column chunks and the backtest's single rows, mixed, give the file that the
    single rows alone give: same rows in the same order, full row groups of `rows_per_group`."""
    p = small_pipeline()
    rows = []
    for i in range(300):
        p.on_trade(100.1, 1.0, 1 if i % 3 else -1, i * S // 2)
        rows.append(p.on_book(book(i * S // 2, bid_size=1 + i % 4, mid=100 + 0.1 * (i % 5))))
    with FeatureRecorder(tmp_path / "single.parquet", rows_per_group=64) as rec:
        for row in rows:
            rec.record(row)
    with FeatureRecorder(tmp_path / "mixed.parquet", rows_per_group=64) as rec:
        at = 0
        for k, size in enumerate([5, 70, 1, 130, 3, 40, 51]):  # chunks across row groups, single rows between
            chunk = rows[at : at + size]
            if k % 2:
                columns = {name: [getattr(r, name) for r in chunk] for name in SCHEMA.names}
                rec.record_columns({n: v if n == "cold" else np.array(v) for n, v in columns.items()})
            else:
                for row in chunk:
                    rec.record(row)
            at += size
        assert at == len(rows)
    single, mixed = pq.ParquetFile(tmp_path / "single.parquet"), pq.ParquetFile(tmp_path / "mixed.parquet")
    assert mixed.read().equals(single.read())
    groups = [mixed.metadata.row_group(g).num_rows for g in range(mixed.metadata.num_row_groups)]
    assert groups == [64, 64, 64, 64, 44] == [single.metadata.row_group(g).num_rows for g in range(single.num_row_groups)]
