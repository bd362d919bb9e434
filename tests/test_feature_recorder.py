"""The feature recorder writes every snapshot field as a named, typed column, row for row."""

import pandas as pd

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
