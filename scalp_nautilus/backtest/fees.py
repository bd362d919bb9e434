"""A maker/taker fee model whose rates come from the backtest config instead of the instrument.

Nautilus's `MakerTakerFeeModel` charges the instrument's own `maker_fee` / `taker_fee` (Binance
tier 0: 0.02 % / 0.05 % in `scalp_nautilus.instruments`); `venue.fees` in `configs/backtest.yaml`
overrides either rate (a VIP tier, a rebate: negative maker rates are allowed) without rewriting the
instrument in the catalog. The commission is the rate times the fill's notional, in the currency
Nautilus uses for the instrument's notional (quote for linear, base for inverse contracts).
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.backtest.config import FeeModelConfig
from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.enums import LiquiditySide
from nautilus_trader.model.objects import Money


class RateFeeModelConfig(FeeModelConfig, frozen=True):
    """Rates as fractions of notional (0.0005 = 5 bps); None keeps the instrument's own."""

    maker_rate: float | None = None
    taker_rate: float | None = None


class RateFeeModel(FeeModel):
    def __init__(self, config: RateFeeModelConfig | None = None) -> None:
        config = config or RateFeeModelConfig()
        self.maker_rate = None if config.maker_rate is None else Decimal(str(config.maker_rate))
        self.taker_rate = None if config.taker_rate is None else Decimal(str(config.taker_rate))

    def get_commission(self, order, fill_qty, fill_px, instrument) -> Money:
        notional = instrument.notional_value(quantity=fill_qty, price=fill_px, use_quote_for_inverse=False)
        if order.liquidity_side == LiquiditySide.MAKER:
            rate = instrument.maker_fee if self.maker_rate is None else self.maker_rate
        elif order.liquidity_side == LiquiditySide.TAKER:
            rate = instrument.taker_fee if self.taker_rate is None else self.taker_rate
        else:
            raise ValueError(f"fill without a liquidity side: {order.client_order_id}")
        return Money(notional.as_decimal() * rate, notional.currency)
