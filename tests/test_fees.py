"""Fees per venue (issue 26, item 5): each venue's regular tier, chosen by the instrument's venue, is
what the strategy's break-even assumes and what the backtest venue and the replay venue charge.

The oracle is each venue's published regular-tier schedule, typed here from the venues' pages (the
sources are cited in `scalp_nautilus.fees`): Binance USD-M and COIN-M perpetuals maker 0.0200 %,
taker 0.0500 %; Bybit linear perpetuals maker 0.0200 %, taker 0.0550 %. Before this change the Bybit
configs kept Binance's rates: the summary's break-even said 10.00 bps while Bybit charged 11.00.
"""

from __future__ import annotations

from types import SimpleNamespace

import msgspec
import pytest

from nautilus_trader.model.enums import LiquiditySide
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from scalp_nautilus.backtest.fees import RateFeeModel
from scalp_nautilus.backtest.fees import RateFeeModelConfig
from scalp_nautilus.backtest.runner import strategy_config
from scalp_nautilus.backtest.runner import venue_execution
from scalp_nautilus.backtest.settings import load_backtest_settings
from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.instruments import resolve_spec
from scalp_nautilus.live.venue.capture_feed import VenueBook
from scalp_nautilus.live.venue.exchange import Exchange
from scalp_nautilus.live.venue.exchange import ExchangeSettings
from scalp_nautilus.strategy import ScalpStrategyConfig
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.settings import fee_schedule
from tests.config_files import write_config

USDM = resolve_spec("BINANCE", "BTCUSDT").to_instrument()
COINM = resolve_spec("BINANCE", "BTCUSD_PERP").to_instrument()
BYBIT = resolve_spec("BYBIT", "BTCUSDT").to_instrument()
SPOT = resolve_spec("BINANCE", "NEXOUSDT", spot=True).to_instrument()
SIM = SIM_SPEC.to_instrument()

# (maker, taker), fractions of notional, from the venues' published regular tiers
PUBLISHED = {USDM.id: (0.0002, 0.0005), COINM.id: (0.0002, 0.0005), BYBIT.id: (0.0002, 0.00055)}


def config(instrument, **sections) -> ScalpStrategyConfig:
    raw = {"instrument_id": str(instrument.id), "vpin": {"volume_per_hour": 1000.0}, "orders": {"base_size": 1.0}, **sections}
    return ScalpStrategyConfig.parse(msgspec.json.encode(raw))


@pytest.mark.parametrize("instrument", [USDM, COINM, BYBIT], ids=lambda i: str(i.id))
def test_each_venue_s_regular_tier_is_chosen_by_the_instrument(instrument):
    fees = fee_schedule(config(instrument), instrument)
    assert (fees.maker_rate, fees.taker_rate) == PUBLISHED[instrument.id]


def test_other_instruments_keep_their_own_rates_and_a_config_tier_wins():
    # the simulator models Binance USD-M; a Binance spot pair charges 0.1 % either way
    assert fee_schedule(config(SIM), SIM) == fee_schedule(config(USDM), USDM)
    spot = fee_schedule(config(SPOT), SPOT)
    assert (spot.maker_rate, spot.taker_rate) == (0.001, 0.001)
    vip = fee_schedule(config(BYBIT, fees={"taker_rate": 0.0004}), BYBIT)  # a VIP taker rate, the maker rate the venue's
    assert (vip.maker_rate, vip.taker_rate) == (0.0002, 0.0004)


@pytest.mark.parametrize("entry,take_profit,bps", [("taker", "taker", 11.0), ("maker", "taker", 7.5), ("maker", "maker", 4.0)])
def test_bybit_break_even_is_what_bybit_charges(entry, take_profit, bps):
    """The summary's break-even line (`round_trip_fee_bps`): entry fee + take-profit fee, in bps."""
    c = config(BYBIT, orders={"base_size": 1.0, "entry": entry}, exits={"take_profit_order": take_profit})
    assert DecisionParams(c, BYBIT).round_trip_fee_bps == pytest.approx(bps, abs=1e-12)


def _fill(model: RateFeeModel, instrument, maker: bool, qty: float, px: float) -> float:
    order = SimpleNamespace(liquidity_side=LiquiditySide.MAKER if maker else LiquiditySide.TAKER, client_order_id="O-1")
    fill_qty = Quantity(qty, instrument.size_precision)
    fill_px = Price(px, instrument.price_precision)
    return model.get_commission(order, fill_qty, fill_px, instrument).as_double()


def test_the_backtest_venue_charges_bybit_s_rates(tmp_path):
    """`venue.fees` null: the backtest venue charges the strategy's rates, now Bybit's for a Bybit instrument."""
    path = write_config(tmp_path, instrument_id=str(BYBIT.id), **{"strategy.config": {"orders": {"base_size": 0.01}}})
    settings = load_backtest_settings(path)
    _, scalp = strategy_config(settings, end_ns=0)
    _, fees = venue_execution(settings, scalp, BYBIT)
    model = RateFeeModel(RateFeeModelConfig(fees=fees))
    # 0.5 BTC at 60,000 USDT: 30,000 USDT of notional; taker 0.055 % = 16.5, maker 0.02 % = 6
    assert _fill(model, BYBIT, maker=False, qty=0.5, px=60_000.0) == pytest.approx(16.5, abs=1e-8)
    assert _fill(model, BYBIT, maker=True, qty=0.5, px=60_000.0) == pytest.approx(6.0, abs=1e-8)


@pytest.mark.parametrize("venue,taker", [("BYBIT", 0.00055), ("BINANCE", 0.0005)])
def test_the_replay_venue_charges_its_venue_s_rates(venue, taker):
    """configs/replay_venue*.yaml leave `exchange.fees` null: the venue's regular tier, Bybit's for the Bybit API."""
    book = VenueBook()
    book.apply_snapshot({"lastUpdateId": 10, "T": 1_000, "bids": [["59999.9", "2.000"]], "asks": [["60000.0", "2.000"]]})
    ex = Exchange(resolve_spec(venue, "BTCUSDT"), ExchangeSettings(), book)
    order = ex.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.500"}, 1)
    [fill] = ex.match(order, 1)
    assert fill.commission == pytest.approx(0.5 * 60_000.0 * taker, abs=1e-8)
