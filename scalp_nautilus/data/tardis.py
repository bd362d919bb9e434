"""Tardis.dev CSV files into the catalog, through Nautilus's own Tardis loaders.

Supported data types (detected from the file name or, failing that, the header):
``incremental_book_L2`` -> `OrderBookDelta` (the loader starts each snapshot with a CLEAR and sets
``F_LAST`` on each timestamp's last delta), ``trades`` -> `TradeTick`, ``quotes`` -> `QuoteTick`,
``derivative_ticker`` -> `FundingRateUpdate` (the loader leaves the next funding time empty; it is
filled from the file's ``funding_timestamp`` column).

Tardis's ``timestamp`` is the exchange's time and ``local_timestamp`` Tardis's receive time; as for
the raw captures, ``ts_init`` is never earlier than ``ts_event`` (clamped and counted).
"""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from nautilus_trader.adapters.tardis.loaders import TardisCSVDataLoader
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick

from scalp_nautilus.data.catalog import DEFAULT_CATALOG
from scalp_nautilus.data.catalog import CatalogWriter
from scalp_nautilus.errors import InputError
from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.instruments import resolve_spec

log = logging.getLogger(__name__)

# Tardis exchange name -> Nautilus venue of the instrument ids we write.
TARDIS_VENUES = {
    "binance-futures": "BINANCE",
    "binance-delivery": "BINANCE",
    "deribit": "DERIBIT",
    "bybit": "BYBIT",
    "okex-swap": "OKX",
}

_HEADERS = {
    "incremental_book_L2": {"is_snapshot", "side", "price", "amount"},
    "trades": {"id", "side", "price", "amount"},
    "quotes": {"ask_amount", "ask_price", "bid_price", "bid_amount"},
    "derivative_ticker": {"funding_rate", "mark_price"},
}


class TardisError(InputError):
    pass


def detect_data_type(path: Path) -> str:
    for name in _HEADERS:
        if f"_{name}_" in path.name or path.name.startswith(f"{name}_"):
            return name
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        header = set(fh.readline().strip().split(","))
    for name, cols in _HEADERS.items():
        if cols <= header:
            return name
    raise TardisError(f"{path}: not a supported Tardis CSV (incremental_book_L2, trades, quotes, derivative_ticker)")


def tardis_spec(exchange: str, symbol: str, tick_size: str | None = None, step_size: str | None = None) -> ContractSpec:
    venue = TARDIS_VENUES.get(exchange)
    if venue is None:
        raise TardisError(f"unknown Tardis exchange {exchange!r}; known: {', '.join(TARDIS_VENUES)}")
    return resolve_spec(venue, symbol.upper(), tick_size=tick_size, step_size=step_size)


def load_tardis_file(path: str | Path, spec: ContractSpec, stats: Counter | None = None) -> list:
    """One Tardis CSV as Nautilus objects for `spec`'s instrument, in file (ts_init) order."""
    path = Path(path)
    stats = Counter() if stats is None else stats
    kind = detect_data_type(path)
    loader = TardisCSVDataLoader(spec.price_precision, spec.size_precision, spec.instrument_id)
    if kind == "incremental_book_L2":
        data = loader.load_deltas(path)
    elif kind == "trades":
        data = loader.load_trades(path)
    elif kind == "quotes":
        data = loader.load_quotes(path)
    else:
        data = _with_next_funding(loader.load_funding_rates(path), path, spec)
    stats[kind] += len(data)
    return _clamp_ts_init(data, stats)


def _with_next_funding(updates: list[FundingRateUpdate], path: Path, spec: ContractSpec) -> list[FundingRateUpdate]:
    frame = pd.read_csv(path, usecols=lambda c: c in ("funding_rate", "funding_timestamp"))
    frame = frame[frame["funding_rate"].notna()]
    if "funding_timestamp" not in frame or len(frame) != len(updates):
        return updates
    interval = spec.funding_interval_hours * 60
    return [
        FundingRateUpdate(
            u.instrument_id,
            u.rate,
            u.ts_event,
            u.ts_init,
            interval=interval,
            next_funding_ns=int(nf) * 1_000 if pd.notna(nf) else None,
        )
        for u, nf in zip(updates, frame["funding_timestamp"], strict=True)
    ]


def _clamp_ts_init(data: list, stats: Counter) -> list:
    late = [i for i, d in enumerate(data) if d.ts_init < d.ts_event]
    if not late:
        return data
    stats["ts_init_clamped"] += len(late)
    rebuild = {
        OrderBookDelta: lambda d: OrderBookDelta(d.instrument_id, d.action, d.order, d.flags, d.sequence, d.ts_event, d.ts_event),
        TradeTick: lambda d: TradeTick(d.instrument_id, d.price, d.size, d.aggressor_side, d.trade_id, d.ts_event, d.ts_event),
        QuoteTick: lambda d: QuoteTick(d.instrument_id, d.bid_price, d.ask_price, d.bid_size, d.ask_size, d.ts_event, d.ts_event),
        FundingRateUpdate: lambda d: FundingRateUpdate(
            d.instrument_id,
            d.rate,
            d.ts_event,
            d.ts_event,
            interval=d.interval,
            next_funding_ns=d.next_funding_ns,
        ),
    }
    out = list(data)
    for i in late:
        out[i] = rebuild[type(out[i])](out[i])
    # A raised ts_init can overtake later rows; the catalog needs them non-decreasing.
    out.sort(key=lambda d: d.ts_init)
    return out


def import_tardis(
    paths: Iterable[str | Path],
    exchange: str,
    symbol: str,
    catalog: str | Path = DEFAULT_CATALOG,
    replace: bool = False,
    tick_size: str | None = None,
    step_size: str | None = None,
) -> tuple[CatalogWriter, Counter]:
    spec = tardis_spec(exchange, symbol, tick_size, step_size)
    writer = CatalogWriter(catalog, replace=replace)
    writer.write_instrument(spec.to_instrument())
    stats: Counter = Counter()
    for path in paths:
        writer.extend(load_tardis_file(path, spec, stats))
    writer.close()
    return writer, stats
