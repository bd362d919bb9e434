"""Funding-rate arbitrage detector (after Alexander & Heck 2020 on perpetual funding dislocations).

Each settled funding rate r (fraction of notional per interval, paid by longs when positive) is
z-scored against the last `window` settled rates (itself included: `RollingZScore`). With at least
`min_history` settlements and |z| > `z_threshold` there is an opportunity: direction -sign(z)
(+1: long the perpetual, collect negative funding; -1: short it, collect positive funding),
expected return per interval |r - mean| / 2 (half the dislocation, as a fraction of notional), and

    annualised bps = expected * 10,000 * intervals per year,  intervals per year = 365.25 d / interval

with the interval taken from the data (8 h gives 1095.75 a year, 1 h gives 8766).

Which settlement a published rate is for, when it settles and the interval come from the detector's
`schedule` (`scalp_nautilus.indicators.funding_feed.SettlementSchedule`, its input side: current-rate
streams, settled-history records, and what it skips); the detector keeps the z-score of the rates
it records. `value` is the z of the latest settled rate (0 until `min_history` settlements are held).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nautilus_trader.indicators.base import Indicator

from scalp_nautilus.indicators.funding_feed import HOUR_NS
from scalp_nautilus.indicators.funding_feed import RateStep
from scalp_nautilus.indicators.funding_feed import SettlementSchedule
from scalp_nautilus.indicators.funding_feed import funding_input
from scalp_nautilus.indicators.rolling_zscore import RollingZScore
from scalp_nautilus.indicators.settings import FundingSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.indicators.warm_state import WarmState

YEAR_NS = 365.25 * 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class FundingOpportunity:
    """A funding dislocation at one settlement. Rates and returns are fractions of notional per interval."""

    direction: int  # +1 long the perpetual, -1 short it
    z: float
    rate: float  # the settled rate
    mean: float  # mean of the window, the rate included
    expected_return: float  # |rate - mean| / 2 per interval
    annualized_bps: float
    interval_ns: int
    intervals_per_year: float
    settlement_ns: int


class FundingArbDetector(WarmState, Indicator):
    """z-score of settled funding rates and the arbitrage opportunity it implies.

    Parameters
    ----------
    settings : FundingSettings
        `window` settled rates in the history (default 90: 30 days of 8 h funding), `min_history`
        of them before any z or opportunity, |z| above `z_threshold` reports one. Its other
        fields configure the strategy's funding entries and feed, not the detector.
    min_std : float
        Floor of the history's standard deviation (rate units). Default 1e-6 (0.01 bp per interval):
        funding often sits at its clamp for weeks, and a dislocation smaller than the floor is noise.
    min_interval_ns : int
        Closest spacing of two settlements (ns). Default 30 min, below any venue's 1 h interval.
    """

    _STATE = ("value",)
    _CHILDREN = ("_zscore", "schedule")

    def __init__(
        self, settings: FundingSettings | None = None, *, min_std: float = 1e-6, min_interval_ns: int = HOUR_NS // 2
    ) -> None:
        settings = checked(settings or FundingSettings())
        window, min_history, z_threshold = settings.window, settings.min_history, settings.z_threshold
        super().__init__(params=[window, min_history, z_threshold, min_std, min_interval_ns])
        self.settings = settings
        self.z_threshold = z_threshold
        self.schedule = SettlementSchedule(window, min_interval_ns)
        self.skips = self.schedule.skips  # the rates its input side skipped
        self._zscore = RollingZScore(window, min_std, warmup=min_history)
        self._reset()

    def _reset(self) -> None:
        self._zscore.reset()
        self.schedule.reset()
        self.value = 0.0
        self.opportunity: FundingOpportunity | None = None

    def restore(self, state: dict) -> None:
        super().restore(state)
        # The opportunity is a function of the latest settlement and the history it joined.
        s = self.schedule
        self.opportunity = self._opportunity(s.settled_rate, self.value, s.last_settlement_ns) if self.initialized else None

    @property
    def history(self) -> int:
        """Settled rates held."""
        return self._zscore.count

    @property
    def interval_ns(self) -> int:
        """The schedule's funding interval (ns): the median settlement spacing, 0 before two settlements."""
        return self.schedule.interval_ns

    def handle_funding(self, update) -> RateStep | None:
        """Feed a `FundingRateUpdate` or a Binance `BinanceFuturesMarkPriceUpdate` (`funding_input`);
        returns the schedule's reading of it."""
        x = funding_input(update)
        if x.rate is None:
            raise TypeError(f"not a funding update: {type(update).__name__}")
        return self.update_raw(x.rate, x.ts_event, x.next_funding_ns)

    def update_raw(self, rate: float, ts_ns: int, next_funding_ns: int | None = None) -> RateStep | None:
        """Feed a funding rate (fraction per interval) seen at `ts_ns`, through the schedule (see
        `SettlementSchedule.on_rate`); a settlement it records joins the z-score's history."""
        step = self.schedule.on_rate(rate, ts_ns, next_funding_ns)
        if math.isfinite(rate) and not self.has_inputs:
            self._set_has_inputs(True)
        if step is not None and step.recorded:
            self._record(self.schedule.settled_rate, self.schedule.last_settlement_ns)
        return step

    def _record(self, rate: float, settlement_ns: int) -> None:
        z = self._zscore.update_raw(rate)
        if not self._zscore.initialized:
            return
        if not self.initialized:
            self._set_initialized(True)
        self.value = z
        self.opportunity = self._opportunity(rate, z, settlement_ns)

    def _opportunity(self, rate: float, z: float, settlement_ns: int) -> FundingOpportunity | None:
        interval = self.schedule.interval_ns
        if abs(z) <= self.z_threshold or interval <= 0:
            return None
        mean = self._zscore.mean
        expected = abs(rate - mean) / 2.0
        per_year = YEAR_NS / interval
        return FundingOpportunity(
            direction=-1 if z > 0 else 1,
            z=z,
            rate=rate,
            mean=mean,
            expected_return=expected,
            annualized_bps=expected * 10_000 * per_year,
            interval_ns=interval,
            intervals_per_year=per_year,
            settlement_ns=settlement_ns,
        )
