"""The funding feed: one input from every funding object, and the settlement schedule it implies.

`funding_input(obj)` is the one adapter from the objects funding arrives in: Nautilus's
`FundingRateUpdate` and `MarkPriceUpdate` (backtests, Bybit) and Binance's
`BinanceFuturesMarkPriceUpdate` custom data (live Binance futures: rate, mark and next funding time
in one). The strategy's funding ledger and the funding-arb detector both read it.

`SettlementSchedule` says which settlement each published rate is for, when a settlement's rate is
final, and when the next settlement is (`next_settlement_ns`). It is the funding-arb detector's
input side (the detector keeps the z-score of the settled rates); the strategy books funding and
times its funding entries from the same instance. Two kinds of rate input, told apart by
``next_funding_ns``:

- A current-rate stream, as Binance's ``markPrice@1s`` (``BinanceFuturesMarkPriceUpdate``, or a
  ``FundingRateUpdate`` carrying ``next_funding_ns``): every update republishes the rate that will
  settle at ``next_funding_ns``. The settled rate is the last one published for that time; it is
  recorded once, when ``next_funding_ns`` rolls over to the following settlement, and the interval
  is the roll-over's step. On the 2023-04-05 capture the 00:00 settlement is 0.00002760, published
  at 00:00:00.010 with T still 00:00, one second before the roll-over. An update naming an earlier
  settlement than the last one named is out of order: counted in ``backwards``, logged, skipped.
- Settled-history records (archive/REST ``FundingRateUpdate`` without ``next_funding_ns``), one per
  settlement, stamped at the settlement, final at once. Two of them less than `min_interval_ns`
  apart are not a settlement history but a per-tick stream without settlement times (Nautilus's
  Tardis ``derivative_ticker`` loader emits those for Binance): such records are counted in
  ``ticker_like``, logged and ignored, since recording them would count a settlement per tick.

A history can be preloaded from an archive and continued from the live stream. A settlement less
than `min_interval_ns` after the last one recorded (a repeat, or out of order) is counted in
``duplicates`` and skipped; a rate that is not finite in ``invalid``. The funding interval is taken
from the data: the median spacing of the last `window` settlements (robust to a missed one).
``FundingRateUpdate.interval`` (minutes, optional) is not read: once the history is warm the spacing
is known, and it is what happened rather than what was announced.

Every skipped rate is also a reason of the schedule's `skips` (`SkipCounter`, the first of each
logged): the funding-arb detector's skips in the pipeline's and the report's totals.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate

from scalp_nautilus.indicators.warm_state import WarmState
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)

HOUR_NS = 3_600_000_000_000


@dataclass(frozen=True, slots=True)
class FundingInput:
    """One funding observation, whatever object it came in: see `funding_input`."""

    ts_event: int
    rate: float | None  # None: a mark price only
    next_funding_ns: int | None  # None: a settled record (for a rate) or unknown
    mark: float | None  # None: no mark in this object


def funding_input(obj) -> FundingInput:
    """The one adapter from Nautilus's `FundingRateUpdate` / `MarkPriceUpdate` and Binance's
    `BinanceFuturesMarkPriceUpdate` (custom data: rate, mark and next funding time in one) to the
    funding inputs. Nautilus 1.231 hands a catalog's `FundingRateUpdate.rate` back as a str, hence
    float()."""
    if isinstance(obj, FundingRateUpdate):
        return FundingInput(obj.ts_event, float(obj.rate), obj.next_funding_ns or None, None)
    if isinstance(obj, MarkPriceUpdate):
        return FundingInput(obj.ts_event, None, None, float(obj.value))
    rate = getattr(obj, "funding_rate", None)
    mark = getattr(obj, "mark", None)
    if rate is None or mark is None or not hasattr(obj, "next_funding_ns"):
        raise TypeError(f"not a funding or mark price update: {type(obj).__name__}")
    return FundingInput(obj.ts_event, float(rate), obj.next_funding_ns or None, float(mark))


class RateStep(NamedTuple):
    """What one published rate means (`SettlementSchedule.on_rate`)."""

    settlement_ns: int  # the settlement the rate is for
    rate: float
    # The settlement's last rate (a settled record). A stream's rate is final once the stream names
    # a later settlement: every settlement before `settlement_ns` then has its final rate.
    final: bool
    recorded: bool  # a settlement joined the history: `last_settlement_ns` at `settled_rate`


class SettlementSchedule(WarmState):
    """Settlement times and settled rates of one instrument's funding (see the module doc).

    Parameters
    ----------
    window : int
        Settlement spacings in the interval's median.
    min_interval_ns : int
        Closest spacing of two settlements (ns). Default 30 min, below any venue's 1 h interval.
    """

    _STATE = (
        "_intervals",
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

    def __init__(self, window: int = 90, min_interval_ns: int = HOUR_NS // 2) -> None:
        if min_interval_ns <= 0:
            raise ValueError(f"min_interval_ns must be > 0, got {min_interval_ns}")
        self.min_interval_ns = min_interval_ns
        self._intervals: deque[int] = deque(maxlen=window)
        self.skips = SkipCounter("FundingArbDetector", log)
        self.reset()

    def reset(self) -> None:
        self._intervals.clear()
        self.current_rate = math.nan  # latest published rate (the one that will settle next)
        self.next_funding_ns = 0  # settlement time of `current_rate` named by a stream; 0 when unknown
        self.settled_rate = math.nan
        self.last_settlement_ns = 0
        self._last_record_ns = -1  # previous settled-history record received
        self.settlements = 0
        self.duplicates = 0
        self.ticker_like = 0
        self.backwards = 0
        self.invalid = 0
        self.skips.clear()
        self._interval()

    def restore(self, state: dict) -> None:
        super().restore(state)
        self._interval()

    def _interval(self) -> None:
        """`interval_ns`: the funding interval from the data (the median settlement spacing), 0
        before two settlements; kept, not recomputed on every read (the decision reads the next
        settlement on every book batch)."""
        self.interval_ns = int(statistics.median(self._intervals)) if self._intervals else 0

    @property
    def next_settlement_ns(self) -> int:
        """The next settlement: the one a stream named, else the last settled one plus the interval
        (settled records only); 0 while unknown."""
        return self.next_funding_ns or (self.last_settlement_ns + self.interval_ns if self.interval_ns else 0)

    def on_rate(self, rate: float, ts_ns: int, next_funding_ns: int | None = None) -> RateStep | None:
        """A funding rate (fraction per interval) seen at `ts_ns`; see the module doc for
        `next_funding_ns`. None: the rate was skipped (counted)."""
        if not math.isfinite(rate):
            self.invalid += 1
            self.skips("non-finite funding rate skipped", rate)
            return None
        if next_funding_ns:
            return self._on_current_rate(rate, next_funding_ns)
        return self._on_settled_record(rate, ts_ns)

    def _on_current_rate(self, rate: float, next_funding_ns: int) -> RateStep | None:
        if next_funding_ns < self.next_funding_ns:
            self.backwards += 1
            detail = f"{next_funding_ns} after {self.next_funding_ns}"
            self.skips("funding update for an earlier settlement: out of order, skipped", detail)
            return None
        recorded = False
        if self.next_funding_ns and next_funding_ns > self.next_funding_ns:
            recorded = self._settle(self.current_rate, self.next_funding_ns, next_funding_ns - self.next_funding_ns)
        self.current_rate = rate
        self.next_funding_ns = next_funding_ns
        return RateStep(next_funding_ns, rate, False, recorded)

    def _on_settled_record(self, rate: float, ts_ns: int) -> RateStep | None:
        previous = self._last_record_ns
        self._last_record_ns = max(previous, ts_ns)
        # A repeat or an older record is not evidence of a stream: `_settle` counts it as a duplicate.
        if previous >= 0 and 0 < ts_ns - previous < self.min_interval_ns:
            self.ticker_like += 1
            self.skips(
                "funding records without next_funding_ns closer than min_interval_ns: a per-tick stream, not "
                "settlements; ignored (give next_funding_ns to use it)",
                f"{(ts_ns - previous) / 1e9:.1f} s apart",
            )
            return None
        interval = ts_ns - self.last_settlement_ns if self.last_settlement_ns else 0
        if not self._settle(rate, ts_ns, interval):
            return None
        return RateStep(ts_ns, rate, True, True)

    def _settle(self, rate: float, settlement_ns: int, interval_ns: int) -> bool:
        if self.last_settlement_ns and settlement_ns < self.last_settlement_ns + self.min_interval_ns:
            self.duplicates += 1
            self.skips("settlement within min_interval_ns of the last one (a repeat or out of order) skipped", settlement_ns)
            return False
        if interval_ns > 0:
            self._intervals.append(interval_ns)
            self._interval()
        self.settlements += 1
        self.settled_rate = rate
        self.last_settlement_ns = settlement_ns
        return True
