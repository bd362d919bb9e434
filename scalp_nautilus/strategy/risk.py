"""The strategy's risk limits and kill switch (`RiskSettings`, the strategy config's `risk`).

Pure bookkeeping on plain numbers, no engine: the strategy reports its orders, fills, round trips,
funding and, per book batch, the open position's unrealised P&L and notional; `RiskLimits` answers
with a `Halt` when a limit is breached. Limits (each 0 is off):
- `max_position_notional`: |position| x mid above it trips.
- `daily_loss_limit`: the day's P&L = realised (gross, round trips closed today) + unrealised (the
  open position, at the mid) - fees (fills today) + funding (booked today), at or below -limit
  trips. The day starts at 00:00 UTC of the event times: realised, fees and funding restart at
  zero; an open position's unrealised P&L counts whole on the day it is read.
- `max_consecutive_losses`: that many losing round trips in a row (gross P&L minus the round
  trip's fees below zero) trips; a winning or break-even one resets the count.
- `max_orders_per_minute`: an order that makes more than this many in the trailing 60 s trips.

The first breach halts; later ones are not recorded over it. A halt stays until the operator
clears it: it is written to the live state file under ``"halt"`` (`read_halt`, `clear_halt`), read
at start whatever the age of the rest of the file, and cleared by `scalp-nautilus live ...
--clear-halt`.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

from scalp_nautilus.strategy.settings import RiskSettings
from scalp_nautilus.units import NS_PER_S

DAY_NS = 86_400 * NS_PER_S
MINUTE_NS = 60 * NS_PER_S

MAX_POSITION_NOTIONAL = "max_position_notional"
DAILY_LOSS = "daily_loss_limit"
CONSECUTIVE_LOSSES = "max_consecutive_losses"
ORDER_RATE = "max_orders_per_minute"


@dataclass(frozen=True)
class Halt:
    """A tripped kill switch: which limit, the numbers, and when (exchange / node time, ns)."""

    limit: str
    detail: str
    ts_ns: int

    def __str__(self) -> str:
        return f"{self.limit}: {self.detail}"


class RiskLimits:
    def __init__(self, settings: RiskSettings, halt: Halt | None = None) -> None:
        self.settings = settings
        self.halt = halt
        self._day = -1
        self.realized = 0.0  # today's gross realised P&L
        self.fees = 0.0  # today's fees
        self.funding = 0.0  # today's funding (received > 0)
        self.unrealized = 0.0  # the open position's, at the last check
        self.losses_in_row = 0
        self._orders: deque[int] = deque()

    @property
    def halted(self) -> bool:
        return self.halt is not None

    @property
    def day_pnl(self) -> float:
        return self.realized + self.unrealized - self.fees + self.funding

    # ---------------------------------------------------------------- inputs

    def _roll(self, ts_ns: int) -> None:
        day = ts_ns // DAY_NS
        if day > self._day:
            self._day = day
            self.realized = self.fees = self.funding = 0.0

    def on_fee(self, ts_ns: int, fee: float) -> Halt | None:
        self._roll(ts_ns)
        self.fees += fee
        return self._check_day(ts_ns)

    def on_funding(self, ts_ns: int, amount: float) -> Halt | None:
        self._roll(ts_ns)
        self.funding += amount
        return self._check_day(ts_ns)

    def on_round_trip(self, ts_ns: int, gross_pnl: float, fees: float) -> Halt | None:
        """A position closed: its gross P&L is realised today; `fees` (all of its fills') only
        decide whether it lost (they were counted by `on_fee` as they came)."""
        self._roll(ts_ns)
        self.realized += gross_pnl
        self.unrealized = 0.0
        self.losses_in_row = self.losses_in_row + 1 if gross_pnl - fees < 0.0 else 0
        limit = self.settings.max_consecutive_losses
        if limit and self.losses_in_row >= limit:
            return self.trip(CONSECUTIVE_LOSSES, f"{self.losses_in_row} losing round trips in a row (limit {limit})", ts_ns)
        return self._check_day(ts_ns)

    def on_order(self, ts_ns: int) -> Halt | None:
        """An order was (or is about to be) sent."""
        orders = self._orders
        orders.append(ts_ns)
        while orders[0] <= ts_ns - MINUTE_NS:
            orders.popleft()
        limit = self.settings.max_orders_per_minute
        if limit and len(orders) > limit:
            return self.trip(ORDER_RATE, f"{len(orders)} orders in 60 s (limit {limit})", ts_ns)
        return None

    def orders_in_last_minute(self, ts_ns: int) -> int:
        """Orders sent in the 60 s before `ts_ns` (what `max_orders_per_minute` is compared with)."""
        return sum(1 for t in self._orders if t > ts_ns - MINUTE_NS)

    def check(self, ts_ns: int, unrealized: float, notional: float) -> Halt | None:
        """Per book batch: the open position's unrealised P&L and |notional| at the mark (0, 0 flat)."""
        self._roll(ts_ns)
        self.unrealized = unrealized
        limit = self.settings.max_position_notional
        if limit and notional > limit:
            return self.trip(MAX_POSITION_NOTIONAL, f"position notional {notional:.2f} > {limit:.2f}", ts_ns)
        return self._check_day(ts_ns)

    # ---------------------------------------------------------------- the switch

    def _check_day(self, ts_ns: int) -> Halt | None:
        limit = self.settings.daily_loss_limit
        pnl = self.day_pnl
        if limit and pnl <= -limit:
            return self.trip(
                DAILY_LOSS,
                f"day P&L {pnl:.4f} (realised {self.realized:.4f}, unrealised "
                f"{self.unrealized:.4f}, fees {self.fees:.4f}, funding {self.funding:.4f}) <= -{limit:.4f}",
                ts_ns,
            )
        return None

    def clear(self) -> Halt | None:
        """The operator cleared the halt (`ScalpStrategy.clear_halt`); returns what was cleared."""
        halt, self.halt = self.halt, None
        return halt

    def trip(self, limit: str, detail: str, ts_ns: int) -> Halt | None:
        """Halt (the first breach only); returns the new halt, None when already halted."""
        if self.halt is not None:
            return None
        self.halt = Halt(limit, detail, ts_ns)
        return self.halt


# -------------------------------------------------------------------- the state file


def read_halt(path: str | Path) -> Halt | None:
    """The halt recorded in a state file (None: none, or no file). A file that cannot be read
    counts as halted: whether the last session tripped is unknown."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text())
        record = body.get("halt")
        return Halt(str(record["limit"]), str(record["detail"]), int(record["ts_ns"])) if record else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        return Halt("state_file", f"{path} cannot be read ({exc}); clear the halt after checking the account", 0)


def halt_record(halt: Halt | None) -> dict:
    """The state file's ``"halt"`` entry (`warm.save`'s `extra`)."""
    return {"halt": asdict(halt) if halt is not None else None}


def clear_halt(path: str | Path) -> Halt | None:
    """Remove the halt from a state file (the operator's `--clear-halt`); returns what was cleared.
    An unreadable file (counted as halted) is replaced by one without a halt or a warm state."""
    from scalp_nautilus.strategy import warm  # the file's writer (it imports the feature pipeline)

    halt = read_halt(path)
    if halt is None:
        return None
    warm.update(path, halt_record(None))
    return halt
