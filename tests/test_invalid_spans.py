"""Invalid spans are data (DESIGN §8): stored beside the catalog, and no decision, feature row or
research sample comes from inside one (the backtest's gate, the feature replay, research)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalp_nautilus.cli import main
from scalp_nautilus.data import spans as span_codec
from scalp_nautilus.data.spans import InvalidSpans
from scalp_nautilus.data.spans import add_invalid_spans
from scalp_nautilus.data.spans import read_invalid_spans
from tests.test_cluster import s3  # noqa: F401 (fixture: a local S3 server)

_S = 1_000_000_000


def test_inside_is_strict_and_merges_overlaps():
    """Against a brute-force oracle on random spans: both ends are valid book states, what lies
    strictly between is not; overlapping and touching spans merge."""
    rng = random.Random(3)
    for _ in range(200):
        raw = [(a, a + rng.randint(0, 30)) for a in (rng.randint(0, 200) for _ in range(rng.randint(0, 6)))]
        spans = InvalidSpans(raw)
        for t in range(-5, 240):
            assert spans.inside(t) == any(a < t < b for a, b in raw), (raw, t)
        assert all(b0 <= a1 for (_, b0), (a1, _) in zip(spans.spans, spans.spans[1:], strict=False))


def test_spans_stored_per_instrument_merge_and_replace(tmp_path):
    assert read_invalid_spans(tmp_path, "X.Y") == []
    assert add_invalid_spans(tmp_path, "X.Y", [(10, 20)]) == [(10, 20)]
    assert add_invalid_spans(tmp_path, "X.Y", [(30, 40), (10, 20)]) == [(10, 20), (30, 40)]
    # a re-import replacing the data from 15 to 35 drops the spans it overlapped
    assert add_invalid_spans(tmp_path, "X.Y", [(50, 60)], replacing=(15, 35)) == [(50, 60)]
    assert read_invalid_spans(tmp_path, "X.Y") == [(50, 60)] and read_invalid_spans(tmp_path, "Z.Y") == []


def _features_file(path, ts, mid, file_spans):
    table = pa.table(
        {"ts_event": pa.array(ts, pa.int64()), "mid": pa.array(mid), "book_valid": [True] * len(ts), "cold": [""] * len(ts)}
    )
    if file_spans:
        table = table.replace_schema_metadata({span_codec.METADATA_KEY: span_codec.encode(file_spans)})
    pq.write_table(table, path)


def test_research_takes_no_row_inside_and_no_return_into_a_span(tmp_path):
    """Research reads feature files only: their metadata carries the spans. Rows inside are dropped
    (an older file may hold some), and a forward return that would reach into a span has none; the
    oracle is the same return computed by hand on the rows."""
    from scalp_nautilus.research.edge import forward_returns_bps
    from scalp_nautilus.research.edge import invalid_span_lines
    from scalp_nautilus.research.edge import load_features

    ts = np.arange(0, 60 * _S, _S // 2, dtype=np.int64)  # a row every 0.5 s for a minute
    mid = 100.0 + np.sin(np.arange(len(ts)) / 7.0)
    span = (20 * _S, 30 * _S)
    path = tmp_path / "f.parquet"
    _features_file(path, ts, mid, [span])
    data = load_features([path])
    kept = data["ts_event"].to_numpy()
    assert not ((kept > span[0]) & (kept < span[1])).any() and len(kept) == len(ts) - 19
    assert invalid_span_lines(data) == [
        "invalid spans in the data: 1 (10.000 s of exchange time); 19 rows inside them dropped, "
        "and no forward return reaches into one"
    ]
    out = forward_returns_bps(data, 5.0)
    mids = dict(zip(kept.tolist(), data["mid"].tolist(), strict=True))
    for t, m, r in zip(kept.tolist(), data["mid"].tolist(), out.tolist(), strict=True):
        target = t + 5 * _S
        if target > kept[-1] or (t <= span[0] < target):
            assert np.isnan(r), t
        else:
            prevailing = max(k for k in mids if k <= target)
            assert r == pytest.approx(1e4 * (mids[prevailing] / m - 1.0)), t
    # without the metadata the same rows give returns across the span
    _features_file(tmp_path / "g.parquet", ts, mid, [])
    assert np.isfinite(forward_returns_bps(load_features([tmp_path / "g.parquet"]), 5.0)[: 2 * 19]).all()


@pytest.mark.slow
def test_backtest_and_feature_replay_take_nothing_from_inside_a_stored_span(tmp_path, capsys):
    """A simulated catalog with a minute marked invalid: the backtest blocks every book batch inside
    it (counted `invalid_span` in its summary), places no order there and records no feature row
    there; the feature replay records the same rows (it skips the same batches); without the span
    the replay has exactly those batches as rows."""
    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from tests.config_files import write_config

    catalog = tmp_path / "cat"
    assert main(["data", "simulate", "--catalog", str(catalog), "--minutes", "6"]) == 0
    iid = "BTCUSDT-PERP.SIM"
    (first, _), *_ = ParquetDataCatalog(str(catalog)).get_intervals(OrderBookDelta, iid)
    span = (first + 150 * _S, first + 210 * _S)
    add_invalid_spans(catalog, iid, [span])
    assert main(["data", "list", "--catalog", str(catalog)]) == 0
    assert "invalid spans  1 (60.000 s)" in capsys.readouterr().out

    fast = {"vpin.window_minutes": 1.0, "hurst.window": 64}
    config = write_config(tmp_path, fast, catalog=str(catalog), reports_dir=str(tmp_path / "rep"), plots=False)
    assert main(["backtest", "--config", str(config), "--record-features", str(tmp_path / "bt.parquet")]) == 0
    summary = capsys.readouterr().out
    decisions = pd.read_csv(tmp_path / "rep" / "decisions.csv", index_col=0)["book_batches"]
    bt = pq.read_table(tmp_path / "bt.parquet")
    rows_ts = bt.column("ts_event").to_numpy()
    assert not ((rows_ts > span[0]) & (rows_ts < span[1])).any()
    assert span_codec.decode(bt.schema.metadata[span_codec.METADATA_KEY]) == [span]
    fills = pd.read_csv(tmp_path / "rep" / "fills.csv")
    for column in ("ts_init", "ts_last"):
        if column in fills and len(fills):
            t = pd.to_datetime(fills[column], utc=True).astype("int64").to_numpy()
            assert not ((t > span[0]) & (t < span[1])).any(), column

    replay = ["features", "--catalog", str(catalog), "--instrument", iid, "--config", str(tmp_path / "strategy.yaml")]
    assert main([*replay, "--out", str(tmp_path / "rp.parquet")]) == 0
    replay_out = capsys.readouterr().out
    assert pq.read_table(tmp_path / "rp.parquet").equals(bt)
    blocked = int(decisions["invalid_span"])
    assert blocked > 100 and f"{blocked:,} book batches inside the catalog's invalid spans not recorded" in replay_out
    assert f"invalid_span {blocked:,}" in summary

    (catalog / "invalid_spans" / f"{iid}.json").unlink()
    assert main([*replay, "--out", str(tmp_path / "all.parquet")]) == 0
    every = pq.read_table(tmp_path / "all.parquet").column("ts_event").to_numpy()
    assert int(((every > span[0]) & (every < span[1])).sum()) == blocked


def test_spans_of_a_catalog_on_object_storage_are_read(s3, tmp_path):  # noqa: F811 (the s3 fixture)
    """A catalog copied up to object storage keeps its invalid spans: the runner and the replay read
    them through fsspec with the catalog's storage options (here a local S3 server, moto)."""
    import boto3

    add_invalid_spans(tmp_path, "BTCUSDT-PERP.BINANCE", [(1, 5), (9, 12)])
    client = boto3.client(
        "s3", endpoint_url=s3.endpoint, region_name="us-east-1", aws_access_key_id=s3.key, aws_secret_access_key=s3.secret
    )
    client.create_bucket(Bucket="spans")
    client.upload_file(
        str(tmp_path / "invalid_spans" / "BTCUSDT-PERP.BINANCE.json"), "spans", "cat/invalid_spans/BTCUSDT-PERP.BINANCE.json"
    )
    options = {"endpoint_url": s3.endpoint, "key": s3.key, "secret": s3.secret, "client_kwargs": {"region_name": "us-east-1"}}
    assert read_invalid_spans("s3://spans/cat", "BTCUSDT-PERP.BINANCE", options) == [(1, 5), (9, 12)]
    assert read_invalid_spans("s3://spans/cat", "ETHUSDT-PERP.BINANCE", options) == []
