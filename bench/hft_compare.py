"""hftbacktest's own per-message loop on a catalog's data, for `bench_scale.py` (issue 22).

hftbacktest (nkaz001/hftbacktest, Rust core with numba-callable bindings) is what a quant developer
would pick instead of this project's feature replay. Its loop here is the one its tutorials use
to read the book on every market message: `wait_next_feed` per message, the best bid and ask read
from its depth after each. The catalog's deltas and trades become its event array (depth updates
by side, a delete as size 0, a CLEAR as a clear of both sides, trades by aggressor side; exchange
time `ts_event`, local time `ts_init`), put in its required exchange/local order by its own
`correct_event_order`. Only the loop is timed: building the array (Parquet decoding included) is
not, whereas the project's replay is timed from its Parquet reads on; the ratio printed is
therefore generous to hftbacktest.

hftbacktest is an optional dependency (the `bench` extra; it declares numpy<2.3 but runs with the
project's pinned numpy 2.5.5): `pip install --no-deps -c constraints.txt hftbacktest==2.4.4`.
"""

from __future__ import annotations

import time

import numpy as np


def event_array(catalog: str, instrument_id: str) -> tuple[np.ndarray, float, float]:
    """The catalog's deltas and trades as hftbacktest events; also the tick and lot sizes."""
    import pyarrow as pa
    from hftbacktest.data.validation import correct_event_order
    from hftbacktest.types import BUY_EVENT
    from hftbacktest.types import DEPTH_CLEAR_EVENT
    from hftbacktest.types import DEPTH_EVENT
    from hftbacktest.types import EXCH_EVENT
    from hftbacktest.types import LOCAL_EVENT
    from hftbacktest.types import SELL_EVENT
    from hftbacktest.types import TRADE_EVENT
    from hftbacktest.types import event_dtype

    from nautilus_trader.model.data import OrderBookDelta
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from scalp_nautilus.backtest.runner import catalog_instrument
    from scalp_nautilus.backtest.runner import data_configs
    from scalp_nautilus.backtest.settings import BacktestSettings
    from scalp_nautilus.backtest.streaming import arrow_batches
    from scalp_nautilus.feature_replay.book import CLEAR
    from scalp_nautilus.feature_replay.book import DELETE
    from scalp_nautilus.feature_replay.book import fixed_to_float

    cat = ParquetDataCatalog(catalog)
    instrument = catalog_instrument(cat, instrument_id)
    settings = BacktestSettings(catalog=catalog, instrument_id=instrument_id)
    parts = []
    both = EXCH_EVENT | LOCAL_EVENT
    for config in data_configs(settings, cat, instrument.id):
        if config.data_type not in (OrderBookDelta, TradeTick):
            continue
        columns = ["action", "side", "price", "size", "ts_event", "ts_init"] if config.data_type is OrderBookDelta else None
        for _, batch in arrow_batches(config, 1_000_000, columns or ["price", "size", "aggressor_side", "ts_event", "ts_init"]):
            assert isinstance(batch, pa.RecordBatch)
            _, px = fixed_to_float(batch.column("price"), instrument.price_precision)
            _, qty = fixed_to_float(batch.column("size"), instrument.size_precision)
            ev = np.zeros(batch.num_rows, event_dtype)
            if config.data_type is OrderBookDelta:
                action = batch.column("action").to_numpy()
                side = batch.column("side").to_numpy()
                kind = np.where(action == CLEAR, DEPTH_CLEAR_EVENT, DEPTH_EVENT)
                ev["ev"] = both | kind | np.where(side == 1, BUY_EVENT, SELL_EVENT)
                qty = np.where(action == DELETE, 0.0, qty)
            else:
                aggressor = batch.column("aggressor_side").to_numpy()
                ev["ev"] = both | TRADE_EVENT | np.where(aggressor == 1, BUY_EVENT, SELL_EVENT)
            ev["exch_ts"] = batch.column("ts_event").to_numpy()
            ev["local_ts"] = batch.column("ts_init").to_numpy()
            ev["px"], ev["qty"] = px, qty
            parts.append(ev)
    data = np.concatenate(parts)
    data = data[np.argsort(data["local_ts"], kind="stable")]
    data = correct_event_order(data, np.argsort(data["exch_ts"], kind="stable"), np.arange(len(data)))
    return data, float(instrument.price_increment), float(instrument.size_increment)


def per_message_loop(data: np.ndarray, tick: float, lot: float) -> dict:
    """hftbacktest's per-message loop over `data`; wall and CPU time of the loop alone."""
    from hftbacktest import BacktestAsset
    from hftbacktest import HashMapMarketDepthBacktest
    from numba import njit

    @njit
    def loop(hbt):
        messages = 0
        spread = 0.0
        while hbt.wait_next_feed(False, 1_000_000_000_000) == 2:
            depth = hbt.depth(0)
            spread += depth.best_ask - depth.best_bid
            messages += 1
        return messages, spread

    def build():
        asset = (
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_latency(0, 0)
            .risk_adverse_queue_model()
            .no_partial_fill_exchange()
            .trading_value_fee_model(0.0002, 0.0005)
            .tick_size(tick)
            .lot_size(lot)
        )
        return HashMapMarketDepthBacktest([asset])

    warm = build()  # numba compiles the loop on a first run, not timed
    loop(warm)
    warm.close()
    hbt = build()
    started, cpu = time.perf_counter(), time.process_time()
    messages, _ = loop(hbt)
    wall, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    hbt.close()
    events = int(np.count_nonzero(data["ev"] & (1 << 30)))  # LOCAL_EVENT rows: the messages fed
    return {"mode": "hftbacktest", "events": events, "messages": messages, "wall_s": wall, "cpu_s": cpu_s}
