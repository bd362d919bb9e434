"""The top-of-book mode (DESIGN §8, issue 21 part 3): the same strategy on quotes and trades only.

On the shared captures: their bookTicker and trade streams written as Binance's public archive
publishes them (`tests.support.archive_files`, the archive oracle's helper), imported, then run
through `features` (the feature replay) and a backtest, which chooses the mode from the catalog
(quotes, no deltas). Oracles, written from the papers' formulas on the capture's own messages (not
on the product's import or objects):

- spread in bps of the mid; Cont, Kukanov and Stoikov's (2014) best-level order-flow imbalance e_n;
- VPIN (Easley, López de Prado, O'Hara 2012): fixed-volume buckets cut from the cumulative volume,
  trades split across bucket boundaries, sides from the venue's flag;
- CVD: net signed volume over the last `window` one-second buckets and the open one;
- Parkinson's (1980) range volatility and the close-to-close one over 1 s mid bars (a bar opens at
  the previous close; a bar without an update is flat);
- every column needing depth beyond level 1 is NaN (never 0), depth_state -1, depth_shock False.

The backtest's recorded rows are bit-identical to the replay's, and its summary names the
unavailable features.
"""

from __future__ import annotations

import json
import math

import msgspec
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from nautilus_trader.model.data import QuoteTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from scalp_nautilus.backtest.runner import venue_book_type
from scalp_nautilus.backtest.settings import check_strategy_config
from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import merge
from scalp_nautilus.config import nest
from scalp_nautilus.data.archive_download import download_archive
from scalp_nautilus.errors import InputError
from scalp_nautilus.feature_recorder import UNAVAILABLE_KEY
from scalp_nautilus.feature_recorder import FeatureRecorder
from scalp_nautilus.feature_replay.replay import replay_features
from scalp_nautilus.feature_table import COLUMNS
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.indicators.settings import LSTMSettings
from scalp_nautilus.models.dataset import read_features
from scalp_nautilus.models.lstm import LSTMPredictor
from scalp_nautilus.research.edge import load_features
from scalp_nautilus.research.edge import unavailable_lines
from scalp_nautilus.strategy.settings import build_pipeline
from scalp_nautilus.top_of_book import L2
from scalp_nautilus.top_of_book import TOP_OF_BOOK
from scalp_nautilus.top_of_book import ensemble_weights
from scalp_nautilus.top_of_book import resolve
from tests.oracle.compare import column_differences
from tests.support.archive_files import archive_from_capture
from tests.support.archive_files import capture_messages
from tests.support.configs import ROOT
from tests.support.configs import write_config

CONFIG_PATH = "scalp_nautilus.strategy:ScalpStrategyConfig"
# DESIGN §8's list, in this row's columns: the deeper LOB vector levels and the LSTM reading the
# vector, the depth measures over the liquidity levels, the slippage walk, the band around the mid.
NEED_DEPTH = {
    *(f"lob_{k}" for k in (1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14)),
    *("lstm_direction", "lstm_confidence", "lstm_volatility"),
    *("depth_imbalance", "weighted_depth", "resilience", "slippage_buy_bps", "slippage_sell_bps", "depth_notional"),
}
MISSING = {"depth_shock": False, "depth_state": -1}  # the int columns' unavailable values


def tob_config(instrument_id: str, volume_per_hour: float, **overrides):
    raw = yaml.safe_load((ROOT / "configs" / "strategy.yaml").read_text())
    changes = {"vpin.volume_per_hour": volume_per_hour, "vpin.window_minutes": 2.0, "hurst.window": 64, **overrides}
    return check_strategy_config(merge(raw, nest(changes)), CONFIG_PATH, instrument_id, "top-of-book test")


# ---------------------------------------------------------------- without data


def test_a_quote_is_a_one_level_book():
    builder = BookSnapshotBuilder(depth=5, price_precision=1, size_precision=3, tick_size=0.1, levels=1)
    snap = builder.from_quote(100.0, 2.0, 100.1, 3.0, 7, 8)
    assert (snap.n_bids, snap.n_asks, snap.levels, snap.best_bid, snap.best_ask) == (1, 1, 1, 100.0, 100.1)
    assert snap.bid_sizes.tolist() == [2.0, 0, 0, 0, 0] and math.isnan(snap.bid_band_notional)
    one_sided = builder.from_quote(100.0, 0.0, 100.1, 3.0, 9, 9)  # a side of size 0 is missing
    assert one_sided.n_bids == 0 and not one_sided.is_valid
    with pytest.raises(ValueError, match="top of book"):
        BookSnapshotBuilder().from_quote(100.0, 1.0, 100.1, 1.0, 1, 1)


def test_the_lstm_is_an_absent_member_of_a_top_of_book_ensemble():
    off, on = LSTMPredictor(), LSTMPredictor()
    on.active = True  # as with a model trained on top-of-book rows
    assert ensemble_weights((0.25, 0.25, 0.25, 0.25), 1, off) == pytest.approx((1 / 3, 0.0, 1 / 3, 1 / 3))
    assert ensemble_weights((0.25, 0.25, 0.25, 0.25), 1, on) == (0.25, 0.25, 0.25, 0.25)
    assert ensemble_weights((0.25, 0.25, 0.25, 0.25), 2**31 - 1, off) == (0.25, 0.25, 0.25, 0.25)
    with pytest.raises(ValueError, match="no member but lstm"):
        ensemble_weights((0.0, 1.0, 0.0, 0.0), 1, off)
    config = tob_config("BTCUSDT-PERP.BINANCE", 10_000.0, **{"book.mode": TOP_OF_BOOK})
    pipeline = build_pipeline(config)
    assert pipeline.ensemble.weights[1] == 0.0 and pipeline.ensemble.levels == 1
    assert set(pipeline.unavailable(1)) == NEED_DEPTH | set(MISSING)  # the ensemble is available
    assert "ensemble_direction" in build_pipeline(tob_config("BTCUSDT-PERP.BINANCE", 10_000.0)).unavailable(1)


def test_a_model_trained_on_full_books_is_refused_on_a_top_of_book(tmp_path, caplog):
    from tests.test_lstm import random_model

    path = random_model(tmp_path / "l2.pt", seq_len=4)
    assert LSTMPredictor(LSTMSettings(model_path=str(path))).active
    with caplog.at_level("ERROR"):
        off = LSTMPredictor(LSTMSettings(model_path=str(path)), book_levels=1)
    assert not off.active
    assert "trained on full L2 books (every level), this run reads books showing 1 level(s) a side" in caplog.text
    from scalp_nautilus.models.model_file import save_model
    from scalp_nautilus.models.net import LOBNet

    meta = {"seq_len": 4, "horizon": 3, "alpha": 1e-5, "majority_class": 1, "book_levels": 1}
    tob = save_model(tmp_path / "tob.pt", LOBNet(), meta)  # as if trained on top-of-book rows
    assert LSTMPredictor(LSTMSettings(model_path=str(tob)), book_levels=1).active
    assert not LSTMPredictor(LSTMSettings(model_path=str(tob))).active  # and refused on a full book


def test_the_venue_fills_a_top_of_book_run_against_its_quotes():
    assert venue_book_type(None, TOP_OF_BOOK) == "L1_MBP" and venue_book_type(None, L2) == "L2_MBP"
    with pytest.raises(ConfigError, match="L1_MBP"):
        venue_book_type("L2_MBP", TOP_OF_BOOK)


def test_research_drops_the_unavailable_columns_and_says_so(tmp_path):
    path = tmp_path / "f.parquet"
    gone = ("depth_imbalance", "lob_11")  # lob_11: the imbalance at level 1
    with FeatureRecorder(path, unavailable=gone) as rec:
        for i in range(5):
            values = {c.name: (c.default if c.has_default else c.kind()) for c in COLUMNS}
            row = {**values, "ts_event": i * 10**9, "mid": 100.0, "book_valid": True, "depth_imbalance": math.nan}
            rec.record(FeatureSnapshot(**{**row, "lob_11": math.nan}))
    assert pq.read_schema(path).metadata[UNAVAILABLE_KEY] == b'["depth_imbalance", "lob_11"]'
    data = load_features([path])  # NaN in those columns is no error: they are not read
    assert "depth_imbalance" not in data and data.attrs["unavailable"] == ["depth_imbalance", "lob_11"]
    (line,) = unavailable_lines(data)
    assert (
        "depth_imbalance, 1 LOB vector elements (lob_11)" in line
        and "signals not tested: depth_imbalance, lob_imbalance_1" in line
    )


# ---------------------------------------------------------------- on a shared capture


@pytest.fixture(scope="module")
def archive_catalog(shared_data, tmp_path_factory):
    """usdm_2024_08's bookTickers and trades as archive files, imported: (catalog, messages)."""
    paths = [shared_data / "binance-futures" / "usdm_btcusdt_20240808.gz"]
    root = tmp_path_factory.mktemp("tob")
    files = archive_from_capture(paths, root / "archive", "um")
    outcome = download_archive(
        "um", files[0].symbol, ["trades", "bookTicker"], None, None, root / "x", root / "cat", from_dir=root / "archive"
    )
    assert outcome.imported is not None
    return root / "cat", capture_messages(paths)


def _volume_per_hour(trades: list[dict]) -> float:
    hours = (trades[-1]["T"] - trades[0]["T"]) / 3.6e6
    return sum(float(t["q"]) for t in trades) / hours


@pytest.mark.real_data
@pytest.mark.slow
def test_level_one_features_equal_a_numpy_recomputation(archive_catalog, tmp_path):
    cat, messages = archive_catalog
    iid = "BTCUSDT-PERP.BINANCE"
    assert resolve("auto", ParquetDataCatalog(str(cat)), iid) == TOP_OF_BOOK
    tickers = [d for k, d in messages if k == "bookTicker"]
    trades = [d for k, d in messages if k == "trade"]
    config = tob_config(iid, _volume_per_hour(trades))  # book.mode auto: the catalog decides
    result = replay_features(cat, iid, config, tmp_path / "f.parquet", chunk_size=7_001)
    table = pq.read_table(result.path)
    rows = table.to_pandas()
    assert len(rows) == len(tickers) > 40_000

    # the capture's own numbers
    bid, bid_q = (np.array([float(d[k]) for d in tickers]) for k in ("b", "B"))
    ask, ask_q = (np.array([float(d[k]) for d in tickers]) for k in ("a", "A"))
    ts = np.array([d["T"] for d in tickers], np.int64) * 1_000_000
    valid = (bid_q > 0) & (ask_q > 0) & (bid < ask)
    assert valid.mean() > 0.99
    mid = (bid + ask) / 2
    np.testing.assert_allclose(rows["mid"][valid], mid[valid], rtol=1e-13)
    np.testing.assert_allclose(rows["spread_bps"][valid], 1e4 * (ask - bid)[valid] / mid[valid], rtol=1e-9)

    # Cont, Kukanov, Stoikov (2014), eq. (2): e_n at the best bid and ask
    e = (
        (bid[1:] >= bid[:-1]) * bid_q[1:]
        - (bid[1:] <= bid[:-1]) * bid_q[:-1]
        - (ask[1:] <= ask[:-1]) * ask_q[1:]
        + (ask[1:] >= ask[:-1]) * ask_q[:-1]
    )
    both = valid[1:] & valid[:-1]
    np.testing.assert_allclose(rows["ofi"].to_numpy()[1:][both], e[both], rtol=0, atol=1e-9)
    assert np.count_nonzero(e[both]) > 0.5 * both.sum()

    # trades fed before each row: the engine puts a trade before a quote of the same millisecond
    t_ms = np.array([d["T"] for d in trades], np.int64) * 1_000_000
    size = np.array([float(d["q"]) for d in trades])
    side = np.where([d["m"] for d in trades], -1.0, 1.0)  # buyer the maker: the seller aggressed
    fed = np.searchsorted(t_ms, ts, side="right")

    # VPIN: buckets of V = window volume / N cut from the cumulative volume
    n_buckets = config.vpin.n_buckets
    v = config.vpin.window_volume / n_buckets
    cum = np.concatenate([[0.0], np.cumsum(size)])
    cum_buy = np.concatenate([[0.0], np.cumsum(size * (side > 0))])
    edges = np.interp(np.arange(int(cum[-1] / v) + 1) * v, cum, cum_buy)
    buy = np.diff(edges)  # buy volume of each whole bucket
    imbalance = np.concatenate([[0.0], np.cumsum(np.abs(2 * buy - v))])
    done = np.floor(cum[fed] / v + 1e-9).astype(int)  # whole buckets after the trades fed
    warm = done >= n_buckets
    expected = (imbalance[done[warm]] - imbalance[done[warm] - n_buckets]) / (n_buckets * v)
    assert warm.mean() > 0.3
    np.testing.assert_allclose(rows["vpin"][warm], expected, rtol=1e-7, atol=1e-9)

    # CVD: signed volume of the buckets [now - window, now] (one-second buckets of exchange time)
    bucket_ns, window = round(config.cvd.bucket_s * 1e9), config.cvd.window
    signed = np.concatenate([[0.0], np.cumsum(side * size)])
    first = np.searchsorted(t_ms // bucket_ns, ts // bucket_ns - window, side="left")
    started = fed > 0
    cvd = signed[fed] - signed[np.minimum(first, fed)]
    np.testing.assert_allclose(rows["cvd"][started], cvd[started], rtol=0, atol=1e-8)

    # Parkinson (1980) and close-to-close over the last n closed 1 s bars of the mid
    bar_ns, n = round(config.parkinson.bar_s * 1e9), config.parkinson.window
    b = ts[valid] // bar_ns
    m = mid[valid]
    bars = np.arange(b[0], b[-1])  # closed by the end
    last = np.searchsorted(b, bars, side="right") - 1  # each bar's last update
    assert np.diff(np.unique(b)).max() <= 10  # no outage: every bar is carried (max_carry)
    close = m[last]
    first_in = np.searchsorted(b, bars, side="left")
    high, low = close.copy(), close.copy()
    for k in range(len(bars)):
        inside = m[first_in[k] : last[k] + 1]
        opened = [close[k - 1]] if k else []
        high[k] = max([*inside, *opened])
        low[k] = min([*inside, *opened])
    range2 = np.concatenate([[0.0], np.cumsum(np.log(high / low) ** 2)])
    ret2 = np.concatenate([[0.0, 0.0], np.cumsum(np.log(close[1:] / close[:-1]) ** 2)])
    closed = np.searchsorted(bars, b, side="left")  # bars closed at each valid row
    ok = closed > n
    k = closed[ok]
    parkinson = np.sqrt((range2[k] - range2[k - n]) / (4 * np.log(2) * n))
    realized = np.sqrt((ret2[k] - ret2[k - n]) / n)
    assert ok.mean() > 0.5
    np.testing.assert_allclose(rows["parkinson_vol"][valid][ok], parkinson, rtol=1e-9)
    np.testing.assert_allclose(rows["realized_vol"][valid][ok], realized, rtol=1e-9)

    # depth: unavailable, NaN and never 0; the file says which
    unavailable = set(build_pipeline(in_mode(config, TOP_OF_BOOK)).unavailable(1))
    assert unavailable == NEED_DEPTH | set(MISSING)
    assert set(json.loads(table.schema.metadata[UNAVAILABLE_KEY])) == unavailable
    for name in NEED_DEPTH:
        assert rows[name].isna().all(), name
    for name, value in MISSING.items():
        assert (rows[name] == value).all(), name
    with pytest.raises(InputError, match="the top-of-book mode"):  # no LSTM is trained on these rows
        read_features([result.path])
    for name in ("lob_0", "lob_5", "lob_10", "lob_15", "ensemble_direction", "regime_multiplier", "kyle_lambda"):
        assert rows[name][rows["warm"]].notna().all() and rows[name][rows["warm"]].ne(0).any(), name


def in_mode(config, mode: str):
    return msgspec.structs.replace(config, book=msgspec.structs.replace(config.book, mode=mode))


@pytest.mark.real_data
@pytest.mark.slow
def test_a_top_of_book_backtest_records_the_replays_rows(archive_catalog, tmp_path):
    from scalp_nautilus.backtest.runner import run_backtest
    from scalp_nautilus.backtest.settings import load_backtest_settings

    cat, messages = archive_catalog
    iid = "BTCUSDT-PERP.BINANCE"
    per_hour = _volume_per_hour([d for k, d in messages if k == "trade"])
    changes = {"vpin.volume_per_hour": per_hour, "vpin.window_minutes": 2.0, "hurst.window": 64, "orders.base_size": 0.05}
    path = write_config(
        tmp_path,
        strategy=changes,
        catalog=str(cat),
        instrument_id=iid,
        reports_dir=str(tmp_path / "reports"),
        plots=False,
        **{"venue.name": "BINANCE"},
    )
    settings = load_backtest_settings(path, None, {"record_features": str(tmp_path / "bt.parquet")})
    outcome = run_backtest(settings)
    text = outcome.summary()
    assert "book batches (top of book: quote ticks)" in text
    assert "unavailable     depth_imbalance" in text and "12 LOB vector elements" in text
    (rep,) = outcome.strategies
    assert rep.batches == len(ParquetDataCatalog(str(cat)).quote_ticks([iid])) and rep.book_mode == TOP_OF_BOOK
    replayed = replay_features(cat, iid, tob_config(iid, per_hour), tmp_path / "replay.parquet")
    recorded = pq.read_table(tmp_path / "bt.parquet")
    expected = [tuple(r.values()) for r in recorded.to_pylist()]
    assert column_differences(expected, FeatureSnapshot._fields, pq.read_table(replayed.path)) == {}
    assert recorded.schema.metadata[UNAVAILABLE_KEY] == pq.read_schema(replayed.path).metadata[UNAVAILABLE_KEY]


def test_quotes_without_deltas_choose_the_mode(tmp_path):
    catalog = ParquetDataCatalog(str(tmp_path))
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    catalog.write_data([inst])
    assert resolve("auto", catalog, inst.id.value) == L2  # nothing: the L2 path reports what is missing
    quote = QuoteTick(inst.id, inst.make_price(100.0), inst.make_price(100.1), inst.make_qty(1.0), inst.make_qty(1.0), 1, 1)
    catalog.write_data([quote])
    assert resolve("auto", catalog, inst.id.value) == TOP_OF_BOOK
    assert resolve(L2, catalog, inst.id.value) == L2
