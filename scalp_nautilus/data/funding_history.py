"""Binance funding-rate history files into settled `FundingRateUpdate`s.

Two public forms exist:

- the data archive (data.binance.vision ``fundingRate`` CSVs):
  ``calc_time,funding_interval_hours,last_funding_rate`` with ``calc_time`` in UTC milliseconds;
- the website export: ``"Time","Contracts","Funding Interval","Funding Rate"`` with the rate in
  percent (``"0.002184%"``), newest first, and ``Time`` in the *exporting browser's local time*,
  not UTC. Pass that time zone (e.g. ``Europe/London``). Around a DST change a local wall time can
  be ambiguous (01:00 on the last Sunday of October happens twice in London); the settlement
  times lie on the funding-interval grid in UTC, so the reading that lands on the grid is taken,
  and a time that lands on the grid under no reading is reported.

Each settlement becomes one update stamped at its settlement time (``ts_event = ts_init``), with
the interval in minutes and no ``next_funding_ns``: across the package a `FundingRateUpdate`
without a next funding time is a settled rate for its own time, one with it is a published rate
for that next settlement (as Binance's mark-price stream).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.identifiers import InstrumentId

from scalp_nautilus.errors import InputError

log = logging.getLogger(__name__)

_H = 3_600 * 1_000_000_000


class FundingFileError(InputError):
    pass


@dataclass(frozen=True)
class Settlement:
    ts_ns: int
    rate: Decimal
    interval_hours: int


def detect_format(header: list[str]) -> str:
    cols = [c.strip().strip('"') for c in header]
    if cols[:3] == ["calc_time", "funding_interval_hours", "last_funding_rate"]:
        return "archive"
    if cols[:4] == ["Time", "Contracts", "Funding Interval", "Funding Rate"]:
        return "web-export"
    raise FundingFileError(f"unknown funding file header {cols}: expected the Binance archive or website export")


def read_settlements(path: str | Path, tz: str = "UTC", fmt: str = "auto") -> list[Settlement]:
    """Settlements in time order; malformed rows raise with their line number."""
    path = Path(path)
    return parse_settlements(path.read_text(encoding="utf-8-sig"), str(path), tz, fmt)  # the website export starts with a BOM


def parse_settlements(text: str, path: str, tz: str = "UTC", fmt: str = "auto") -> list[Settlement]:
    """`read_settlements` of a file's text (`path` names it in messages)."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    if not rows:
        raise FundingFileError(f"{path}: empty file")
    fmt = detect_format(rows[0]) if fmt == "auto" else fmt
    parse = _archive_row if fmt == "archive" else _web_row
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            out.append(parse(row, tz))
        except (ValueError, IndexError, ArithmeticError) as exc:
            raise FundingFileError(f"{path}:{lineno}: cannot read {row!r}: {exc}") from None
    out.sort(key=lambda s: s.ts_ns)
    dupes = [b for a, b in zip(out, out[1:]) if a.ts_ns == b.ts_ns]
    if dupes:
        log.warning("%s: %d duplicated settlement times dropped", path, len(dupes))
        out = [s for i, s in enumerate(out) if i == 0 or s.ts_ns != out[i - 1].ts_ns]
    return out


def _archive_row(row: list[str], tz: str) -> Settlement:
    return Settlement(int(row[0]) * 1_000_000, Decimal(row[2]), int(row[1]))


def _web_row(row: list[str], tz: str) -> Settlement:
    interval = int(row[2].strip().removesuffix("h"))
    rate = Decimal(row[3].strip().removesuffix("%")) / 100
    return Settlement(local_to_utc_ns(row[0], tz, interval), rate, interval)


def local_to_utc_ns(text: str, tz: str, interval_hours: int) -> int:
    """A local wall time of a settlement on the UTC grid of `interval_hours` (see the module doc)."""
    local = pd.Timestamp(text)
    if tz.upper() == "UTC":
        return pd.Timestamp(text, tz="UTC").value
    readings = []
    for dst in (True, False):
        try:
            readings.append(local.tz_localize(tz, ambiguous=dst, nonexistent="raise").value)
        except Exception:  # noqa: BLE001 - pytz/zoneinfo raise different types for a DST gap
            continue
    if not readings:
        raise ValueError(f"{text} does not exist in {tz} (inside a DST gap)")
    on_grid = [ns for ns in readings if ns % (interval_hours * _H) == 0]
    if not on_grid:
        raise ValueError(f"{text} ({tz}) is not on the {interval_hours} h funding grid in UTC")
    return on_grid[0]


def to_updates(settlements: list[Settlement], instrument_id: InstrumentId) -> list[FundingRateUpdate]:
    return [
        FundingRateUpdate(
            instrument_id,
            s.rate,
            s.ts_ns,
            s.ts_ns,
            interval=s.interval_hours * 60,
            next_funding_ns=None,
        )
        for s in settlements
    ]
