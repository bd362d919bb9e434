"""Trading fees: one schedule type, used by the strategy (its fee-aware targets), the backtest venue,
the replay venue and research.

A `FeeSchedule` holds a venue's commission rates as fractions of the fill's notional (0.0005 =
5 bps): `maker_rate` for fills that rested on the book, `taker_rate` for fills that took
liquidity; a negative maker rate is a rebate. The commission of a fill is the rate times its
notional, in the currency of the instrument's notional (quote for linear contracts, base for
inverse ones). A rate left null in a config file is taken from the next source (see each user).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

MakerRate = Annotated[float, Meta(ge=-0.01, le=0.01)]
TakerRate = Annotated[float, Meta(ge=0.0, le=0.01)]


class FeeSchedule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Commission rates, fractions of notional (see the module doc); null: not set here."""

    # Fraction of notional per maker (resting) fill, 0.0002 = 2 bps; negative: a rebate; null: the next source's
    maker_rate: MakerRate | None = None
    # Fraction of notional per taker fill, 0.0005 = 5 bps; null: the next source's
    taker_rate: TakerRate | None = None

    def over(self, base: FeeSchedule) -> FeeSchedule:
        """These rates, each one left null taken from `base`."""
        return FeeSchedule(
            maker_rate=base.maker_rate if self.maker_rate is None else self.maker_rate,
            taker_rate=base.taker_rate if self.taker_rate is None else self.taker_rate,
        )

    def rate(self, maker: bool) -> float:
        """The rate of a maker (resting) or taker fill; both rates must be set."""
        rate = self.maker_rate if maker else self.taker_rate
        if rate is None:
            raise ValueError(f"{'maker' if maker else 'taker'} rate not set in {self}")
        return rate

    def bps(self, maker: bool) -> float:
        """`rate` in basis points of notional."""
        return self.rate(maker) * 1e4


# The regular (non-VIP) tier of each venue's perpetuals, published rates without any token
# discount; check them when you trade, the tiers change. A VIP tier or a rebate goes in a config's
# `fees`.
#
# Binance USD-M: maker 0.0200 %, taker 0.0500 %. Binance's fee page
# https://www.binance.com/en/fee/futureFee as tabulated in Nautilus 1.231's Binance futures
# instrument provider (feeTier 0, "Last verified: 2025-01-22"); the loweef crypto futures fee index
# (https://loweef.io/en/crypto-futures-fee-index/, Binance 0.02 % / 0.05 %, checked 2026-10-12).
BINANCE_USDM = FeeSchedule(maker_rate=0.0002, taker_rate=0.0005)
# Binance COIN-M: maker 0.0200 %, taker 0.0500 % (the same fee page, COIN-M tab; Binance aligned the
# COIN-M schedule with USD-M from 2023-09-26, per its announcement of that date on the COIN-M
# liquidity provider programme). Not re-verified here: the sources found state USD-M's tier, and
# Binance's older FAQ example for COIN-M (0.015 % / 0.040 %) predates the change.
BINANCE_COINM = FeeSchedule(maker_rate=0.0002, taker_rate=0.0005)
# Bybit linear (USDT) perpetuals, non-VIP: maker 0.0200 %, taker 0.0550 %. Bybit's trading fee
# structure https://www.bybit.com/en/help-center/article/Trading-Fee-Structure (via the loweef index,
# Bybit 0.02 % / 0.055 %, checked 2026-10-16; its USDT perpetual fee examples use the same rates).
BYBIT_LINEAR = FeeSchedule(maker_rate=0.0002, taker_rate=0.00055)

# By (venue, margined in the base currency): the venue's regular tier for its perpetuals.
VENUE_FEES = {("BINANCE", False): BINANCE_USDM, ("BINANCE", True): BINANCE_COINM, ("BYBIT", False): BYBIT_LINEAR}


def venue_fees(venue: str, coin_margined: bool = False) -> FeeSchedule | None:
    """The regular tier of a venue's perpetuals (`VENUE_FEES`); None for a venue not tabulated."""
    return VENUE_FEES.get((venue, coin_margined))
