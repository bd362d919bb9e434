"""What the strategy keeps for its reports: a sampled timeline, its round trips, and the counts.

The timeline is sampled on book batches at most once per `sample_ns` of exchange time (1 s by
default), in flat float arrays (8 bytes a value: about 5 MB for a day at 1 s), so it grows with
the time replayed, never with the number of events.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import deque
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pandas as pd

from scalp_nautilus.strategy.funding import FundingPayment

TIMELINE_COLUMNS = ("ts", "mid", "equity", "position", "vpin", "vpin_regime", "hurst", "regime_multiplier")


class Timeline:
    """One row per sample: `TIMELINE_COLUMNS` (ts in ns, equity in the settlement currency)."""

    __slots__ = ("sample_ns", "next_ns", "_columns")

    def __init__(self, sample_ns: int) -> None:
        self.sample_ns = sample_ns
        self.next_ns = 0
        self._columns: tuple[array, ...] = (array("q"), *(array("d") for _ in TIMELINE_COLUMNS[1:]))  # ns stay exact as int64

    def add(self, ts: int, *values: float) -> None:
        self.next_ns = ts - ts % self.sample_ns + self.sample_ns
        for column, value in zip(self._columns, (ts, *values)):
            column.append(value)

    def __len__(self) -> int:
        return len(self._columns[0])

    def column(self, name: str) -> array:
        """One of `TIMELINE_COLUMNS`, as stored (not a copy: read it, do not keep it past the next sample)."""
        return self._columns[TIMELINE_COLUMNS.index(name)]

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(dict(zip(TIMELINE_COLUMNS, self._columns)))
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
    notional: float = math.nan  # of the peak quantity at the entry price, settlement currency
    # of `commissions`, those of fills made before this session and reconciled at its start (an
    # adopted position's entry): the previous session paid them, this session's balance did not
    carried_fees: float = 0.0


MARKOUT_HORIZONS_S = (1, 5, 30)
FILL_COLUMNS = (
    "ts",
    "client_order_id",
    "tag",
    "side",
    "qty",
    "px",
    "liquidity",
    "mid",
    *(f"markout_{h}s_bps" for h in MARKOUT_HORIZONS_S),
)


class Markouts:
    """Every fill of the strategy with its markouts: the signed mid move `MARKOUT_HORIZONS_S` after
    it, side x (mid(t + h) - mid(t)) / mid(t) in bps, mid(t) the mid of the latest book batch at the
    fill, mid(t + h) that of the first batch at or after t + h (exchange time). Positive: the mid
    moved our way (a buy followed by a rise). NaN: the data ended before the horizon. The fill's own
    edge against the mid is side x (mid(t) - px) / mid(t); markout + edge is the move against the
    fill price."""

    __slots__ = ("_due", "rows")

    def __init__(self) -> None:
        self.rows: list[list] = []
        self._due: tuple[deque, ...] = tuple(deque() for _ in MARKOUT_HORIZONS_S)  # (due ns, row) in fill order

    def add(self, ts: int, client_order_id: str, tag: str, side: int, qty: float, px: float, liquidity: str, mid: float) -> None:
        row = [ts, client_order_id, tag, side, qty, px, liquidity, mid, *(math.nan for _ in MARKOUT_HORIZONS_S)]
        self.rows.append(row)
        if not mid > 0.0:
            return  # no book yet: no reference mid
        for due, h in zip(self._due, MARKOUT_HORIZONS_S):
            due.append((ts + h * 1_000_000_000, row))

    def on_mid(self, ts: int, mid: float) -> None:
        for k, due in enumerate(self._due):
            while due and due[0][0] <= ts:
                _, row = due.popleft()
                row[8 + k] = row[3] * (mid - row[7]) / row[7] * 1e4

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=list(FILL_COLUMNS))
        df["edge_bps"] = df["side"] * (df["mid"] - df["px"]) / df["mid"] * 1e4
        return df


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
    # the execution's counts (`scalp_nautilus.strategy.execution.COUNTS`) and fee assumptions
    execution: dict[str, int] = field(default_factory=dict)
    round_trip_fee_bps: float = math.nan  # fees of a take-profit round trip in the configured modes
    entry_mode: str = "taker"
    take_profit_mode: str = "taker"
    fills: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[*FILL_COLUMNS, "edge_bps"]))
    book_mode: str = "l2"  # `book.mode` as the run resolved it (`scalp_nautilus.top_of_book`)
    unavailable: tuple[str, ...] = ()  # the row's columns the book could not give (NaN, or an int's missing value)

    @property
    def funding_total(self) -> float:
        return sum(p.amount for p in self.funding)


@dataclass(frozen=True)
class SavedPosition:
    """The position a live strategy held at its last saved state (the state file's ``"position"``),
    for the next session to account for what happened while no node ran (`live.offline`)."""

    qty: float  # signed, instrument size units
    avg_px: float  # average entry price
    fees: float  # commissions its fills paid so far, settlement currency
    ts_event: int  # exchange time of the latest book batch at the save, ns


def position_record(saved: SavedPosition | None) -> dict:
    """The state file's ``"position"`` entry (`warm.save`'s `extra`); flat: null."""
    return {"position": asdict(saved) if saved is not None else None}


def read_saved_position(path: str | Path) -> SavedPosition | None:
    """The position recorded in a state file (None: flat, no file, or a file without one)."""
    try:
        record = json.loads(Path(path).read_text()).get("position")
        if not record:
            return None
        return SavedPosition(float(record["qty"]), float(record["avg_px"]), float(record["fees"]), int(record["ts_event"]))
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None
