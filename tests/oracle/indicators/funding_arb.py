"""Funding-rate arbitrage detector (after Alexander & Heck 2020 on perpetual funding dislocations).

Each settled funding rate r (fraction of notional per interval, paid by longs when positive) is
z-scored against the last `window` settled rates (itself included: `RollingZScore`). With at least
`min_history` settlements and |z| > `z_threshold` there is an opportunity: direction -sign(z)
(+1: long the perpetual, collect negative funding; -1: short it, collect positive funding),
expected return per interval |r - mean| / 2 (half the dislocation, as a fraction of notional), and

    annualised bps = expected * 10,000 * intervals per year,  intervals per year = 365.25 d / interval

with the interval taken from the data: the median spacing of the settlements in the window
(8 h gives 1095.75 a year, 1 h gives 8766), robust to a missed settlement in the history.
``FundingRateUpdate.interval`` (minutes, optional) is not read: once the history is warm the
spacing is known, and it is what happened rather than what was announced.

Two kinds of input, told apart by ``next_funding_ns``:

- A current-rate stream, as Binance's ``markPrice@1s`` (``BinanceFuturesMarkPriceUpdate``, or a
  ``FundingRateUpdate`` carrying ``next_funding_ns``): every update republishes the rate that will
  settle at ``next_funding_ns``. The settled rate is the last one published for that time; it is
  recorded once, when ``next_funding_ns`` rolls over to the following settlement, and the interval
  is the roll-over's step. On the 2023-04-05 capture the 00:00 settlement is 0.00002760, published
  at 00:00:00.010 with T still 00:00, one second before the roll-over.
- Settled-history records (archive/REST ``FundingRateUpdate`` without ``next_funding_ns``), one per
  settlement, stamped at the settlement. Two of them less than `min_interval_ns` apart are not a
  settlement history but a per-tick stream without settlement times (Nautilus's Tardis
  ``derivative_ticker`` loader emits those for Binance): such records are counted in
  ``ticker_like``, logged and ignored, since recording them would count a settlement per tick.

A history can be preloaded from an archive and continued from the live stream. A settlement less
than `min_interval_ns` after the last one recorded (a repeat, or out of order) is counted in
``duplicates`` and skipped.
`value` is the z of the latest settled rate (0 until `min_history` settlements are held).
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from dataclasses import dataclass

from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import FundingRateUpdate

from tests.oracle.indicators.rolling_zscore import RollingZScore
from tests.oracle.indicators.warm_state import WarmState

log = logging.getLogger(__name__)

YEAR_NS = 365.25 * 86_400 * 1_000_000_000
HOUR_NS = 3_600_000_000_000


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
    window : int
        Settled rates in the history (>= `min_history`). Default 90 (30 days of 8 h funding).
    min_history : int
        Settlements needed before any z or opportunity (>= 2). Default 30.
    z_threshold : float
        |z| above which an opportunity is reported (> 0). Default 3.0.
    min_std : float
        Floor of the history's standard deviation (rate units). Default 1e-6 (0.01 bp per interval):
        funding often sits at its clamp for weeks, and a dislocation smaller than the floor is noise.
    min_interval_ns : int
        Closest spacing of two settlements (ns). Default 30 min, below any venue's 1 h interval.
    """

    _STATE = (
        "_intervals",
        "value",
        "current_rate",
        "next_funding_ns",
        "settled_rate",
        "last_settlement_ns",
        "_last_record_ns",
        "settlements",
        "duplicates",
        "ticker_like",
        "backwards",
        "invalid",
    )
    _CHILDREN = ("_zscore",)

    def __init__(
        self,
        window: int = 90,
        min_history: int = 30,
        z_threshold: float = 3.0,
        min_std: float = 1e-6,
        min_interval_ns: int = HOUR_NS // 2,
    ) -> None:
        if min_history < 2:
            raise ValueError(f"min_history must be >= 2, got {min_history}")
        if window < min_history:
            raise ValueError(f"window ({window}) must be >= min_history ({min_history})")
        if not z_threshold > 0:
            raise ValueError(f"z_threshold must be > 0, got {z_threshold}")
        if min_interval_ns <= 0:
            raise ValueError(f"min_interval_ns must be > 0, got {min_interval_ns}")
        super().__init__(params=[window, min_history, z_threshold, min_std, min_interval_ns])
        self.z_threshold = z_threshold
        self.min_interval_ns = min_interval_ns
        self._zscore = RollingZScore(window, min_std, warmup=min_history)
        self._intervals: deque[int] = deque(maxlen=window)
        self._reset()

    def _reset(self) -> None:
        self._zscore.reset()
        self._intervals.clear()
        self.value = 0.0
        self.opportunity: FundingOpportunity | None = None
        self.current_rate = math.nan  # latest published rate (the one that will settle next)
        self.next_funding_ns = 0  # settlement time of `current_rate`; 0 when unknown
        self.settled_rate = math.nan
        self.last_settlement_ns = 0
        self._last_record_ns = -1  # previous settled-history record received
        self.settlements = 0
        self.duplicates = 0
        self.ticker_like = 0
        self.backwards = 0
        self.invalid = 0

    def restore(self, state: dict) -> None:
        super().restore(state)
        # The opportunity is a function of the latest settlement and the history it joined.
        self.opportunity = self._opportunity(self.settled_rate, self.value, self.last_settlement_ns) if self.initialized else None

    @property
    def history(self) -> int:
        """Settled rates held."""
        return self._zscore.count

    @property
    def interval_ns(self) -> int:
        """Funding interval from the data (median settlement spacing), 0 before two settlements."""
        return int(statistics.median(self._intervals)) if self._intervals else 0

    def handle_funding(self, update) -> None:
        """Feed a `FundingRateUpdate` or a Binance `BinanceFuturesMarkPriceUpdate` (``funding_rate`` field)."""
        if isinstance(update, FundingRateUpdate):
            rate = update.rate
        else:
            rate = getattr(update, "funding_rate", None)
            if rate is None or not hasattr(update, "next_funding_ns"):
                raise TypeError(f"not a funding update: {type(update).__name__}")
        self.update_raw(float(rate), update.ts_event, update.next_funding_ns)

    def update_raw(self, rate: float, ts_ns: int, next_funding_ns: int | None = None) -> None:
        """Feed a funding rate (fraction per interval) seen at `ts_ns`; see the module doc for `next_funding_ns`."""
        if not math.isfinite(rate):
            self.invalid += 1
            return
        if not self.has_inputs:
            self._set_has_inputs(True)
        if next_funding_ns:
            self._on_current_rate(rate, next_funding_ns)
        else:
            self._on_settled_record(rate, ts_ns)

    def _on_current_rate(self, rate: float, next_funding_ns: int) -> None:
        if next_funding_ns < self.next_funding_ns:
            self.backwards += 1
            log.warning("funding update for %d after one for %d: out of order, skipped", next_funding_ns, self.next_funding_ns)
            return
        if self.next_funding_ns and next_funding_ns > self.next_funding_ns:
            self._settle(self.current_rate, self.next_funding_ns, next_funding_ns - self.next_funding_ns)
        self.current_rate = rate
        self.next_funding_ns = next_funding_ns

    def _on_settled_record(self, rate: float, ts_ns: int) -> None:
        previous = self._last_record_ns
        self._last_record_ns = max(previous, ts_ns)
        # A repeat or an older record is not evidence of a stream: `_settle` counts it as a duplicate.
        if previous >= 0 and 0 < ts_ns - previous < self.min_interval_ns:
            self.ticker_like += 1
            if self.ticker_like == 1:
                log.warning(
                    "funding records without next_funding_ns %.1f s apart: a per-tick stream, not settlements; "
                    "ignored (give next_funding_ns to use it)",
                    (ts_ns - previous) / 1e9,
                )
            return
        interval = ts_ns - self.last_settlement_ns if self.last_settlement_ns else 0
        self._settle(rate, ts_ns, interval)

    def _settle(self, rate: float, settlement_ns: int, interval_ns: int) -> None:
        if self.last_settlement_ns and settlement_ns < self.last_settlement_ns + self.min_interval_ns:
            self.duplicates += 1
            return
        if interval_ns > 0:
            self._intervals.append(interval_ns)
        self.settlements += 1
        self.settled_rate = rate
        self.last_settlement_ns = settlement_ns
        z = self._zscore.update_raw(rate)
        if not self._zscore.initialized:
            return
        if not self.initialized:
            self._set_initialized(True)
        self.value = z
        self.opportunity = self._opportunity(rate, z, settlement_ns)

    def _opportunity(self, rate: float, z: float, settlement_ns: int) -> FundingOpportunity | None:
        interval = self.interval_ns
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
