"""What the strategy keeps for its reports: a sampled timeline, its round trips, and the counts.

The timeline is sampled on book batches at most once per `sample_ns` of exchange time (1 s by
default), in flat float arrays (8 bytes a value: about 5 MB for a day at 1 s), so it grows with
the time replayed, never with the number of events.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from dataclasses import field

import pandas as pd

from scalp_nautilus.strategy.funding import FundingPayment

TIMELINE_COLUMNS = ("ts", "mid", "equity", "position", "vpin", "vpin_regime", "hurst", "regime_multiplier")


class Timeline:
    """One row per sample: `TIMELINE_COLUMNS` (ts in ns, equity in the settlement currency)."""

    __slots__ = ("sample_ns", "next_ns", "_columns")

    def __init__(self, sample_ns: int) -> None:
        self.sample_ns = sample_ns
        self.next_ns = 0
        self._columns = (array("q"), *(array("d") for _ in TIMELINE_COLUMNS[1:]))  # ns stay exact as int64

    def add(self, ts: int, *values: float) -> None:
        self.next_ns = ts - ts % self.sample_ns + self.sample_ns
        for column, value in zip(self._columns, (ts, *values)):
            column.append(value)

    def __len__(self) -> int:
        return len(self._columns[0])

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame({name: col for name, col in zip(TIMELINE_COLUMNS, self._columns)})
        df["ts"] = pd.to_datetime(df["ts"], utc=True)
        return df


@dataclass(frozen=True)
class RoundTrip:
    """One position from open to flat."""

    ts_opened: int
    ts_closed: int
    direction: int
    quantity: float  # peak quantity
    avg_px_open: float
    avg_px_close: float
    realized_pnl: float  # Nautilus's: after commissions, settlement currency
    commissions: float
    kind: str  # the entry's signal set
    exit_reason: str


@dataclass
class StrategyReport:
    """Everything a `ScalpStrategy` instance hands to the backtest report."""

    instrument_id: str
    currency: str  # settlement currency of the P&L figures
    outcomes: dict[str, int]  # decision outcome -> book batches
    round_trips: list[RoundTrip]
    funding: list[FundingPayment]
    timeline: pd.DataFrame
    batches: int = 0
    skips: dict[str, int] = field(default_factory=dict)
    # the bounds the plots draw: vpin_low/medium/high, hurst_mr/dead_low/dead_high/momentum
    bounds: dict[str, float] = field(default_factory=dict)

    @property
    def funding_total(self) -> float:
        return sum(p.amount for p in self.funding)


@dataclass(frozen=True)
class SessionStatus:
    """A strategy's state for the live heartbeat (`ScalpStrategy.status`, `scalp_nautilus.live.session`)."""

    position: float  # signed, instrument size units
    unrealized: float  # settlement currency, at the mid
    session_pnl: float  # round trips after fees + unrealised + funding
    book_age_s: float  # since the last book batch on the node's clock (nan: none yet)
    stale_feeds: int  # silences found by the feed watchdog
    halt: str  # "" or the kill switch's reason
    currency: str
