"""Trades made while the node was down, from the venue's own record, into the next session's report.

A live strategy with a state file saves, with its warm state, the position it holds
(`strategy.records.position_record`: signed size, average entry, the fees its fills paid so far,
and the exchange time of its latest book batch). A session that ends without its report (SIGKILL,
a power cut, a crash) leaves that record behind. At the next start, before the new session trades,
`reconcile` asks the venue for the account's fills of the instrument since that exchange time
(Binance: ``GET /fapi/v1/userTrades``; Bybit: ``GET /v5/execution/list``, through Nautilus's
execution client) and replays them over the saved position, in time order:

- a fill that reduces the position realises (price - average entry) x size x side, gross;
- every fill's commission is counted (its own currency: the settlement currency here);
- each time the position returns to zero a round trip is closed: "closed while offline", with its
  gross P&L, its exit fees, and the entry fees the previous session had already paid (reported
  apart: they are in that session's balance, not in this one's);
- what is left must be the position the venue holds now (which this session adopts); a mismatch
  is reported, not hidden.

An adopted position is the other case: its entry fees were paid by the previous session, so this
session's report names them (`previous_entry_fees`), since Nautilus's reconciliation books the
adopted position's opening fill with a commission of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime

import pandas as pd

from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import GenerateFillReports
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId

from scalp_nautilus.strategy.records import SavedPosition

_MS = 1_000_000


@dataclass(frozen=True)
class VenueFill:
    """One fill as the venue reports it."""

    ts_ns: int  # the venue's time of the fill
    side: int  # +1 buy, -1 sell
    qty: float
    px: float
    fee: float  # commission, settlement currency
    order_id: str  # the venue's order id
    client_order_id: str  # ours ("" when the venue does not say)


@dataclass(frozen=True)
class OfflineTrip:
    direction: int
    quantity: float  # peak size
    avg_px_open: float
    avg_px_close: float
    gross_pnl: float
    exit_fees: float  # fees of the fills while the node was down
    entry_fees: float  # fees the previous session's fills paid (in its balance, not this one's)
    ts_closed: int

    @property
    def net_pnl(self) -> float:
        """Gross minus every fee of the round trip (both sessions' shares)."""
        return self.gross_pnl - self.exit_fees - self.entry_fees


@dataclass
class OfflineReport:
    saved: SavedPosition | None  # what the previous session recorded last
    fills: list[VenueFill] = field(default_factory=list)  # the venue's fills after it, in time order
    trips: list[OfflineTrip] = field(default_factory=list)
    position_after: float = 0.0  # the saved position moved by the fills
    venue_position: float = 0.0  # what the venue holds now
    fees: float = 0.0  # of the offline fills
    gross_pnl: float = 0.0  # realised by the offline fills
    error: str = ""  # the venue could not be asked

    @property
    def consistent(self) -> bool:
        return math.isclose(self.position_after, self.venue_position, abs_tol=1e-9)

    @property
    def previous_entry_fees(self) -> float:
        """Fees the previous session paid for a position this session adopts (0 when none)."""
        s = self.saved
        if s is None or not self.venue_position or self.fills:
            return 0.0
        return s.fees

    def lines(self, currency: str) -> list[str]:
        """The session report's lines (none when there is nothing to say)."""
        if self.error:
            return [
                f"offline fills   the venue could not be asked ({self.error}): trades made while the node was down are unknown"
            ]
        out = []
        s = self.saved
        if self.fills:
            since = pd.Timestamp(s.ts_event, tz="UTC") if s is not None else None
            out.append(
                f"offline fills   {len(self.fills)} fill(s) since the last saved state"
                + (f" ({since}, position {s.qty:+g} @ {s.avg_px:g})" if s is not None else "")
                + f": gross {self.gross_pnl:+.4f} {currency}, fees {self.fees:.4f}"
            )
            for t in self.trips:
                side = "long" if t.direction > 0 else "short"
                out.append(
                    f"  closed while offline: {side} {t.quantity:g} @ {t.avg_px_open:g} -> {t.avg_px_close:g} at "
                    f"{pd.Timestamp(t.ts_closed, tz='UTC')}: gross {t.gross_pnl:+.4f}, fees {t.exit_fees:.4f} "
                    f"(+ entry fees {t.entry_fees:.4f} paid by the previous session), net {t.net_pnl:+.4f} {currency}"
                )
        if not self.consistent:
            out.append(
                f"  MISMATCH: the saved position moved by these fills is {self.position_after:+g}, "
                f"the venue holds {self.venue_position:+g}"
            )
        if s is not None and self.previous_entry_fees:
            out.append(
                f"adopted         position {self.venue_position:+g} @ {s.avg_px:g} from the previous session: its entry "
                f"fees {self.previous_entry_fees:.4f} {currency} were paid then (in that session's balance, not this one's)"
            )
        return out


def replay(saved: SavedPosition | None, fills: list[VenueFill], venue_position: float) -> OfflineReport:
    """The saved position moved by `fills` (see the module doc)."""
    report = OfflineReport(saved, sorted(fills, key=lambda f: f.ts_ns), venue_position=venue_position)
    pos = saved.qty if saved is not None else 0.0
    avg = saved.avg_px if saved is not None else 0.0
    entry_fees = saved.fees if saved is not None else 0.0
    peak, gross, exit_fees, close_notional, closed_qty = abs(pos), 0.0, 0.0, 0.0, 0.0
    for f in report.fills:
        report.fees += f.fee
        signed = f.side * f.qty
        if pos == 0.0 or (pos > 0) == (signed > 0):  # opens or adds
            total = abs(pos) + f.qty
            avg = (abs(pos) * avg + f.qty * f.px) / total
            pos += signed
            peak = max(peak, abs(pos))
            entry_fees += f.fee
            continue
        closing = min(f.qty, abs(pos))
        share = closing / f.qty
        pnl = closing * (f.px - avg) * (1 if pos > 0 else -1)
        gross += pnl
        report.gross_pnl += pnl
        exit_fees += f.fee * share
        close_notional += closing * f.px
        closed_qty += closing
        direction = 1 if pos > 0 else -1
        pos = round(pos + direction * -closing, 12)
        if pos == 0.0:
            report.trips.append(
                OfflineTrip(direction, peak, avg, close_notional / closed_qty, gross, exit_fees, entry_fees, f.ts_ns)
            )
            gross = exit_fees = close_notional = closed_qty = 0.0
            rest = f.qty - closing
            entry_fees = f.fee * (1 - share)
            if rest > 0:  # the fill went through zero: it opens the other side
                pos, avg, peak = f.side * rest, f.px, rest
            else:
                avg, peak = 0.0, 0.0
    report.position_after = pos
    return report


async def venue_fills(exec_client, venue: str, instrument_id: InstrumentId, since_ns: int) -> list[VenueFill]:
    """The account's fills of `instrument_id` after `since_ns` (the venue's time)."""
    if venue == "BINANCE":
        # Nautilus's `generate_fill_reports` asks only for symbols with open orders or positions,
        # and a stop that closed the position while the node was down leaves neither.
        trades = await exec_client._http_account.query_user_trades(
            symbol=instrument_id.symbol.value.rsplit("-", 1)[0], start_time=since_ns // _MS
        )
        return [
            VenueFill(
                int(t.time) * _MS,
                1 if t.side == "BUY" else -1,
                float(t.qty),
                float(t.price),
                float(t.commission),
                str(t.orderId),
                "",
            )
            for t in trades
            if int(t.time) * _MS > since_ns
        ]
    command = GenerateFillReports(
        instrument_id=instrument_id,
        venue_order_id=None,
        start=datetime.fromtimestamp(since_ns / 1e9, tz=UTC),
        end=None,
        command_id=UUID4(),
        ts_init=0,
    )
    reports = await exec_client.generate_fill_reports(command)
    return [
        VenueFill(
            r.ts_event,
            1 if r.order_side == OrderSide.BUY else -1,
            r.last_qty.as_double(),
            r.last_px.as_double(),
            r.commission.as_double(),
            r.venue_order_id.value,
            r.client_order_id.value if r.client_order_id is not None else "",
        )
        for r in reports
        if r.ts_event > since_ns
    ]
