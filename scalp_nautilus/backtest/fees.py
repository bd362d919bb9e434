"""The backtest venue's fee model: a `FeeSchedule` (`scalp_nautilus.fees`) as a Nautilus `FeeModel`.

Nautilus's `MakerTakerFeeModel` charges the instrument's own `maker_fee` / `taker_fee` (Binance
tier 0: 0.02 % / 0.05 % in `scalp_nautilus.instruments`); the run's schedule (`venue.fees` over the
strategy's, `scalp_nautilus.backtest.runner.venue_execution`) overrides either rate (a VIP tier, a
rebate: negative maker rates are allowed) without rewriting the instrument in the catalog. A rate
left null keeps the instrument's. The commission is the rate times the fill's notional, in the
currency Nautilus uses for the instrument's notional (quote for linear, base for inverse contracts).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from nautilus_trader.backtest.config import FeeModelConfig
from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.enums import LiquiditySide
from nautilus_trader.model.objects import Money

from scalp_nautilus.fees import FeeSchedule


class RateFeeModelConfig(FeeModelConfig, frozen=True):
    """The schedule to charge (Nautilus's config object for `RateFeeModel`)."""

    fees: FeeSchedule = msgspec.field(default_factory=FeeSchedule)


class RateFeeModel(FeeModel):
    def __init__(self, config: RateFeeModelConfig | None = None) -> None:
        fees = (config or RateFeeModelConfig()).fees
        self.maker_rate = None if fees.maker_rate is None else Decimal(str(fees.maker_rate))
        self.taker_rate = None if fees.taker_rate is None else Decimal(str(fees.taker_rate))

    def get_commission(self, order, fill_qty, fill_px, instrument) -> Money:
        notional = instrument.notional_value(quantity=fill_qty, price=fill_px, use_quote_for_inverse=False)
        if order.liquidity_side == LiquiditySide.MAKER:
            rate = instrument.maker_fee if self.maker_rate is None else self.maker_rate
        elif order.liquidity_side == LiquiditySide.TAKER:
            rate = instrument.taker_fee if self.taker_rate is None else self.taker_rate
        else:
            raise ValueError(f"fill without a liquidity side: {order.client_order_id}")
        return Money(notional.as_decimal() * rate, notional.currency)
