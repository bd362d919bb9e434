"""Instrument definitions for the venues the importers and the simulator write.

Binance's exchange-info endpoint is the authority for contract specs, but importers run offline,
so the common perpetuals are tabulated here (values as published by Binance in 2024) and any other
symbol comes from a saved `exchangeInfo` JSON file (`--exchange-info`), or, failing that, is
inferred from the precision of the price and size strings in the data itself (with a warning,
since the tick can be coarser than the printed precision: BTCUSDT prints 0.01 but ticks 0.10).

Instrument ids follow Nautilus's Binance adapter (`BTCUSDT-PERP.BINANCE`, `BTCUSD-PERP.BINANCE`)
so that catalog data and live data share one id.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from nautilus_trader.adapters.binance.common.enums import BinanceAccountType
from nautilus_trader.adapters.binance.common.symbol import BinanceSymbol
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.identifiers import Symbol
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Money
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import NotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContractSpec:
    """Venue contract specification; decimal strings keep tick and lot sizes exact."""

    venue: str
    raw_symbol: str
    base: str
    quote: str
    settlement: str
    inverse: bool
    tick_size: str
    step_size: str
    multiplier: str = "1"
    min_quantity: str | None = None
    max_quantity: str | None = None
    min_notional: str | None = None
    maker_fee: str = "0.0002"
    taker_fee: str = "0.0005"
    funding_interval_hours: int = 8
    spot: bool = False  # a spot pair (Nautilus `CurrencyPair`: no funding, no contract multiplier)

    @property
    def price_precision(self) -> int:
        return decimal_places(self.tick_size)

    @property
    def size_precision(self) -> int:
        return decimal_places(self.step_size)

    @property
    def instrument_id(self) -> InstrumentId:
        if self.venue == "BINANCE":
            if self.spot:
                account = BinanceAccountType.SPOT
            else:
                account = BinanceAccountType.COIN_FUTURES if self.inverse else BinanceAccountType.USDT_FUTURES
            symbol = BinanceSymbol(self.raw_symbol).parse_as_nautilus(account)
        elif self.venue == "BYBIT":
            symbol = f"{self.raw_symbol}-LINEAR"  # Nautilus's Bybit adapter names linear contracts so
        else:
            symbol = self.raw_symbol
        return InstrumentId.from_str(f"{symbol}.{self.venue}")

    def to_instrument(self, ts_ns: int = 0) -> CryptoPerpetual | CurrencyPair:
        quote = Currency.from_str(self.quote)
        if self.spot:
            return CurrencyPair(
                instrument_id=self.instrument_id,
                raw_symbol=Symbol(self.raw_symbol),
                base_currency=Currency.from_str(self.base),
                quote_currency=quote,
                price_precision=self.price_precision,
                size_precision=self.size_precision,
                price_increment=Price.from_str(self.tick_size),
                size_increment=Quantity.from_str(self.step_size),
                min_quantity=Quantity.from_str(self.min_quantity) if self.min_quantity else None,
                max_quantity=Quantity.from_str(self.max_quantity) if self.max_quantity else None,
                min_notional=Money(Decimal(self.min_notional), quote) if self.min_notional else None,
                maker_fee=Decimal(self.maker_fee),
                taker_fee=Decimal(self.taker_fee),
                ts_event=ts_ns,
                ts_init=ts_ns,
            )
        return CryptoPerpetual(
            instrument_id=self.instrument_id,
            raw_symbol=Symbol(self.raw_symbol),
            base_currency=Currency.from_str(self.base),
            quote_currency=quote,
            settlement_currency=Currency.from_str(self.settlement),
            is_inverse=self.inverse,
            price_precision=self.price_precision,
            size_precision=self.size_precision,
            price_increment=Price.from_str(self.tick_size),
            size_increment=Quantity.from_str(self.step_size),
            multiplier=Quantity.from_str(self.multiplier),
            min_quantity=Quantity.from_str(self.min_quantity) if self.min_quantity else None,
            max_quantity=Quantity.from_str(self.max_quantity) if self.max_quantity else None,
            min_notional=Money(Decimal(self.min_notional), quote) if self.min_notional else None,
            margin_init=Decimal("0.05"),
            margin_maint=Decimal("0.025"),
            maker_fee=Decimal(self.maker_fee),
            taker_fee=Decimal(self.taker_fee),
            ts_event=ts_ns,
            ts_init=ts_ns,
        )


def decimal_places(text: str) -> int:
    exponent = Decimal(text).as_tuple().exponent
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity
        raise InputError(f"not a finite decimal: {text!r}")
    return max(0, -exponent)


# Binance USD-M and COIN-M perpetuals (fee tier 0), Deribit's BTC perpetual (amounts in USD).
KNOWN_SPECS: dict[tuple[str, str], ContractSpec] = {
    (s.venue, s.raw_symbol): s
    for s in (
        ContractSpec(
            "BINANCE",
            "BTCUSDT",
            "BTC",
            "USDT",
            "USDT",
            False,
            "0.10",
            "0.001",
            min_quantity="0.001",
            max_quantity="1000",
            min_notional="100",
        ),
        ContractSpec(
            "BINANCE",
            "ETHUSDT",
            "ETH",
            "USDT",
            "USDT",
            False,
            "0.01",
            "0.001",
            min_quantity="0.001",
            max_quantity="10000",
            min_notional="20",
        ),
        ContractSpec(
            "BINANCE",
            "SOLUSDT",
            "SOL",
            "USDT",
            "USDT",
            False,
            "0.0100",
            "1",
            min_quantity="1",
            max_quantity="1000000",
            min_notional="5",
        ),
        ContractSpec(
            "BINANCE",
            "BTCUSD_PERP",
            "BTC",
            "USD",
            "BTC",
            True,
            "0.1",
            "1",
            multiplier="100",
            min_quantity="1",
            max_quantity="1000000",
        ),
        ContractSpec(
            "BINANCE",
            "ETHUSD_PERP",
            "ETH",
            "USD",
            "ETH",
            True,
            "0.01",
            "1",
            multiplier="10",
            min_quantity="1",
            max_quantity="1000000",
        ),
        # Bybit's linear perpetuals (instruments-info) the replay venue's Bybit API serves.
        ContractSpec(
            "BYBIT",
            "BTCUSDT",
            "BTC",
            "USDT",
            "USDT",
            False,
            "0.10",
            "0.001",
            min_quantity="0.001",
            max_quantity="1190",
            min_notional="5",
        ),
        ContractSpec(
            "BYBIT",
            "XRPUSDT",
            "XRP",
            "USDT",
            "USDT",
            False,
            "0.0001",
            "1",
            min_quantity="1",
            max_quantity="1000000",
            min_notional="5",
        ),
        ContractSpec(
            "DERIBIT",
            "BTC-PERPETUAL",
            "BTC",
            "USD",
            "BTC",
            True,
            "0.5",
            "10",
            min_quantity="10",
            maker_fee="0.0000",
            taker_fee="0.0005",
        ),
    )
}


# Binance spot pairs (fee tier 0: 0.1 %), by symbol. NEXOUSDT's filters as its capture prints them
# (../shared/data/binance-spot: prices to 0.001, sizes to 0.01).
KNOWN_SPOT_SPECS: dict[str, ContractSpec] = {
    s.raw_symbol: s
    for s in (
        ContractSpec(
            "BINANCE",
            "NEXOUSDT",
            "NEXO",
            "USDT",
            "USDT",
            False,
            "0.001",
            "0.01",
            min_quantity="0.01",
            min_notional="5",
            maker_fee="0.001",
            taker_fee="0.001",
            spot=True,
        ),
        ContractSpec(
            "BINANCE",
            "BTCUSDT",
            "BTC",
            "USDT",
            "USDT",
            False,
            "0.01",
            "0.00001",
            min_quantity="0.00001",
            min_notional="5",
            maker_fee="0.001",
            taker_fee="0.001",
            spot=True,
        ),
    )
}


def spec_from_exchange_info(path: str | Path, raw_symbol: str) -> ContractSpec:
    """Read one symbol's spec from a saved Binance futures `exchangeInfo` response."""
    info = json.loads(Path(path).read_text())
    for s in info.get("symbols", []):
        if s.get("symbol") != raw_symbol:
            continue
        filters = {f["filterType"]: f for f in s.get("filters", [])}
        inverse = "contractSize" in s and s.get("marginAsset") == s.get("baseAsset")
        return ContractSpec(
            venue="BINANCE",
            raw_symbol=raw_symbol,
            base=s["baseAsset"],
            quote=s["quoteAsset"],
            settlement=s.get("marginAsset", s["quoteAsset"]),
            inverse=inverse,
            tick_size=filters["PRICE_FILTER"]["tickSize"],
            step_size=filters["LOT_SIZE"]["stepSize"],
            multiplier=str(s.get("contractSize", 1)),
            min_quantity=filters["LOT_SIZE"]["minQty"],
            max_quantity=filters["LOT_SIZE"]["maxQty"],
            min_notional=filters.get("MIN_NOTIONAL", {}).get("notional"),
        )
    raise NotFoundError(f"{path}: symbol {raw_symbol!r} is not in this exchangeInfo file")


def infer_binance_spec(raw_symbol: str, price_text: str, size_text: str) -> ContractSpec:
    """Last resort for an unknown symbol: precisions from the printed strings.

    Binance prints prices and sizes padded to the symbol's precision, so the tick is at most
    10^-precision; it may be coarser, which only matters for order prices, so we warn.
    """
    inverse = raw_symbol.endswith("_PERP")
    pair = raw_symbol.removesuffix("_PERP")
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "USD"):
        if pair.endswith(quote):
            base = pair[: -len(quote)]
            break
    else:
        raise InputError(f"cannot split {raw_symbol!r} into base and quote; pass --exchange-info")
    tick = tick_unit(decimal_places(price_text))
    step = tick_unit(decimal_places(size_text))
    log.warning(
        "%s is not a tabulated symbol: tick %s and lot %s inferred from the data's printed "
        "precision (pass --exchange-info for Binance's exact filters)%s",
        raw_symbol,
        tick,
        step,
        "; COIN-M contract size unknown, assuming 10 USD" if inverse else "",
    )
    return ContractSpec(
        "BINANCE",
        raw_symbol,
        base,
        quote,
        base if inverse else quote,
        inverse,
        tick,
        step,
        multiplier="10" if inverse else "1",
    )


def tick_unit(decimals: int) -> str:
    return "1" if decimals == 0 else "0." + "0" * (decimals - 1) + "1"


def resolve_spec(
    venue: str,
    raw_symbol: str,
    exchange_info: str | Path | None = None,
    sample_price: str | None = None,
    sample_size: str | None = None,
    tick_size: str | None = None,
    step_size: str | None = None,
    spot: bool = False,
) -> ContractSpec:
    """The spec for a symbol: exchange-info file, then the table, then inference from samples.
    `spot`: a Binance spot pair (`KNOWN_SPOT_SPECS`) instead of a futures contract."""
    venue = venue.upper()
    if exchange_info is not None:
        spec = replace(spec_from_exchange_info(exchange_info, raw_symbol), spot=spot)
    elif spot and venue == "BINANCE" and raw_symbol in KNOWN_SPOT_SPECS:
        spec = KNOWN_SPOT_SPECS[raw_symbol]
    elif spot and venue == "BINANCE" and sample_price is not None and sample_size is not None:
        spec = replace(infer_binance_spec(raw_symbol, sample_price, sample_size), spot=True)
    elif (venue, raw_symbol) in KNOWN_SPECS:
        spec = KNOWN_SPECS[(venue, raw_symbol)]
    elif venue == "BINANCE" and sample_price is not None and sample_size is not None:
        spec = infer_binance_spec(raw_symbol, sample_price, sample_size)
    else:
        known = ", ".join(f"{v}:{s}" for v, s in KNOWN_SPECS)
        raise NotFoundError(
            f"no contract spec for {venue}:{raw_symbol}; known: {known}; pass an exchangeInfo file or tick and lot sizes",
        )
    if tick_size is not None:
        spec = replace(spec, tick_size=tick_size)
    if step_size is not None:
        spec = replace(spec, step_size=step_size)
    return spec
