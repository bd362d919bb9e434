"""`scalp-nautilus research funding`: the funding-arbitrage claims on years of settled funding rates.

The detector is the strategy's own (`FundingArbDetector`, fed settlement by settlement through
`update_raw`, no book data): for each settlement it gives the z of the settled rate against its
history and, when |z| exceeds its threshold, a signal to take the side that receives funding
(short when z > 0). Two claims are tested per venue and pooled:

- ``funding_z3``: |z| > 3 is rare (DESIGN 3.12; a normal tail would give 0.27% of settlements),
  the claim shared with `research edge` (`claims.funding_z3_claim`);
- ``funding_leg_net``: the funding leg pays after costs. For each signal at settlement t (entry at
  the price the settlement leaves, the open of the 8 h bar starting at t), holding `hold`
  intervals and leaving at the price of the last settlement collected:

      funding = sum_k  -direction x rate(t_k) x mark(t_k) / entry      (position x mark x rate, per unit of entry notional)
      price   = direction x (exit / entry - 1)                         (linear; inverse: direction x (1 - entry / exit))
      net     = funding + price - round-trip fees                      in bps of the entry notional

  where the mark at a settlement is the perpetual's price there (the 8 h bars' open at it) and
  the fees are two legs of `fee_mode` (research `Costs`, Binance USD-M tier 0 by default). For
  coin-margined (inverse) contracts the same is measured in the settlement coin, per coin of
  entry notional: funding = -direction x rate x entry / mark.
  The basis-hedged variant (the spot leg of the same venue taken opposite, its price move
  subtracted, fees on both legs) is written beside it for each signal, not judged.

Intervals: the research package's shared ones (`research.intervals`, through `claims.judge`): a
circular block bootstrap (`arch`) of the statistic over the settlement times in time order (a
ratio of sums, so a time drawn brings all its series), the block length chosen from the data
(Politis and White, at least `hold` for the P&L so that overlapping holds stay together),
resamples until each bound's Monte Carlo error is at most 0.005 (or `max_reps`), stated; the
claims run form one family, adjusted by Benjamini-Hochberg (`claims.settle`), and a bound or an
adjusted p-value within its Monte Carlo error of its threshold reads "borderline". Fewer than
`MIN_SAMPLES` samples: "not enough data", and no interval.

Inputs: the 8 h bars file with funding (``time,exchange,crypto,pair,contract,open,high,low,close,
volume,funding rate``; ``time`` in a local time zone, London by default: settlement times are
found on the UTC funding grid through `funding_history.local_to_utc_ns`), and Binance funding
history files (website export or archive CSV, `funding_history`), which add longer histories
to the z counts (they carry no prices, so no P&L).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
import pandas as pd

from scalp_nautilus.data.funding_history import local_to_utc_ns
from scalp_nautilus.data.funding_history import read_settlements
from scalp_nautilus.errors import InputError
from scalp_nautilus.indicators import settings as indicator_settings
from scalp_nautilus.indicators.funding_arb import FundingArbDetector
from scalp_nautilus.research.claims import Claim
from scalp_nautilus.research.claims import funding_z3_claim
from scalp_nautilus.research.claims import judge
from scalp_nautilus.research.claims import settle
from scalp_nautilus.research.edge import Costs
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.intervals import Statistic
from scalp_nautilus.research.intervals import ratio_of_sums

log = logging.getLogger(__name__)

_H = 3_600 * 1_000_000_000
BARS_COLUMNS = ("time", "exchange", "crypto", "pair", "contract", "open", "high", "low", "close", "volume", "funding rate")


# ---------------------------------------------------------------------- the data


@dataclass
class FundingSeries:
    """One perpetual's settlements in time order (UTC ns), with its 8 h bars where known."""

    venue: str
    symbol: str
    inverse: bool
    source: str
    ts: np.ndarray
    rate: np.ndarray
    open: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the perpetual's bar opening at each settlement
    spot_open: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the venue's spot pair, same times
    interval_ns: int = 8 * _H

    @property
    def name(self) -> str:
        return f"{self.venue} {self.symbol}"

    @property
    def priced(self) -> bool:
        return len(self.open) == len(self.ts)


class FundingDataError(InputError):
    """A funding history or bars file that cannot be used."""


def read_bars(path: str | Path, tz: str = "Europe/London") -> list[FundingSeries]:
    """Every perpetual of the 8 h bars file, its settlement times moved from `tz` to UTC."""
    path = Path(path)
    bars = pd.read_csv(path)
    missing = [c for c in BARS_COLUMNS if c not in bars.columns]
    if missing:
        raise FundingDataError(f"{path}: missing columns {missing}; expected {', '.join(BARS_COLUMNS)}")
    try:
        utc = {t: local_to_utc_ns(t, tz, 8) for t in bars["time"].unique()}
    except ValueError as exc:
        raise FundingDataError(f"{path}: {exc}") from None
    bars["ts"] = bars["time"].map(utc)
    spot = bars[bars["contract"] == "spot"]
    out = []
    for (venue, crypto, pair), rows in bars[bars["contract"] == "perpetual"].groupby(["exchange", "crypto", "pair"], sort=True):
        g = rows.sort_values("ts").drop_duplicates("ts")
        g = g[g["funding rate"].notna()]
        ts = g["ts"].to_numpy(np.int64)
        s = spot[(spot["exchange"] == venue) & (spot["crypto"] == crypto)].set_index("ts")["open"]
        out.append(
            FundingSeries(
                str(venue),
                str(pair),
                inverse=str(pair).endswith("CM"),  # the file's coin-margined perpetuals: BTCUSDCM, ETHUSDCM
                source=path.name,
                ts=ts,
                rate=g["funding rate"].to_numpy(np.float64),
                open=g["open"].to_numpy(np.float64),
                spot_open=s.reindex(ts).to_numpy(np.float64),
            )
        )
    return out


def read_history(path: str | Path, tz: str = "UTC", venue: str = "binance") -> FundingSeries:
    """A Binance funding history file (website export or archive CSV) as an unpriced series."""
    path = Path(path)
    settlements = read_settlements(path, tz=tz)
    if not settlements:
        raise FundingDataError(f"{path}: no settlements")
    hours = {s.interval_hours for s in settlements}
    return FundingSeries(
        f"{venue} (history)",
        path.stem,
        inverse="CM" in path.stem or "_PERP" in path.stem,
        source=path.name,
        ts=np.array([s.ts_ns for s in settlements], dtype=np.int64),
        rate=np.array([float(s.rate) for s in settlements]),
        interval_ns=(max(hours) if len(hours) == 1 else 8) * _H,
    )


# ---------------------------------------------------------------------- the detector over a series


@dataclass
class Detection:
    z: np.ndarray  # the detector's z after each settlement (NaN while it is cold)
    direction: np.ndarray  # +1 / -1 where it signalled, else 0


def detect(series: FundingSeries, window: int = 90, min_history: int = 30, z_threshold: float = 3.0) -> Detection:
    detector = FundingArbDetector(
        indicator_settings.FundingSettings(window=window, min_history=min_history, z_threshold=z_threshold)
    )
    z = np.full(len(series.ts), np.nan)
    direction = np.zeros(len(series.ts), dtype=np.int64)
    for i, (rate, ts) in enumerate(zip(series.rate.tolist(), series.ts.tolist())):
        step = detector.update_raw(rate, ts)
        if step is not None and step.recorded and detector.initialized:
            z[i] = detector.value
            opportunity = detector.opportunity
            if opportunity is not None and opportunity.settlement_ns == step.settlement_ns:
                direction[i] = opportunity.direction
    return Detection(z, direction)


@dataclass
class LegPnL:
    """Per signal, in bps of the entry notional."""

    index: np.ndarray  # settlement index of each signal with a full holding window
    funding: np.ndarray
    price: np.ndarray
    fees: float
    hedged_price: np.ndarray  # perpetual minus spot price move (NaN without spot bars)

    @property
    def net(self) -> np.ndarray:
        return self.funding + self.price - self.fees

    @property
    def hedged_net(self) -> np.ndarray:
        return self.funding + self.hedged_price - 2.0 * self.fees


def leg_pnl(series: FundingSeries, detection: Detection, hold: int, round_trip_bps: float) -> tuple[LegPnL, int]:
    """The funding leg of each signal whose `hold` following settlements are all in the data
    (consecutive, priced); also how many signals lacked them."""
    signals = np.flatnonzero(detection.direction)
    ts, rate, price, spot = series.ts, series.rate, series.open, series.spot_open
    keep, funding, move, hedged = [], [], [], []
    for i in signals.tolist():
        j = i + hold
        if j >= len(ts) or ts[j] - ts[i] != hold * series.interval_ns or not np.isfinite(price[i : j + 1]).all():
            continue
        d = float(detection.direction[i])
        entry, marks = price[i], price[i + 1 : j + 1]
        exit_ = marks[-1]
        if series.inverse:
            paid = -d * rate[i + 1 : j + 1] * entry / marks
            pnl = d * (1.0 - entry / exit_)
        else:
            paid = -d * rate[i + 1 : j + 1] * marks / entry
            pnl = d * (exit_ / entry - 1.0)
        keep.append(i)
        funding.append(1e4 * paid.sum())
        move.append(1e4 * pnl)
        spot_move = spot[j] / spot[i] - 1.0 if len(spot) == len(ts) else np.nan
        hedged.append(1e4 * (pnl - d * spot_move))
    return (
        LegPnL(np.array(keep, dtype=np.int64), np.array(funding), np.array(move), round_trip_bps, np.array(hedged)),
        len(signals) - len(keep),
    )


# ---------------------------------------------------------------------- the claims


@dataclass(frozen=True)
class FundingSettings:
    window: int = 90
    min_history: int = 30
    z_threshold: float = 3.0
    hold: int = 1  # settlements collected per signal
    fee_mode: str = "taker_taker"
    costs: Costs = field(default_factory=Costs)
    boot: BootstrapSettings = field(default_factory=lambda: BootstrapSettings(method="circular"))


@dataclass
class FundingResult:
    claims: list[Claim]
    signals: pd.DataFrame
    counts: pd.DataFrame  # per series: settlements, warm, |z| > 3, signals, priced signals
    summary: list[str]


def _judge(claim: Claim, per_time: pd.DataFrame, threshold: float, above: bool, s: FundingSettings, min_block: int) -> Claim:
    """`claims.judge` of the per-sample mean from per-time sums and counts (`per_time`, indexed by
    the settlement time): a ratio of sums over the times drawn."""
    statistic = Statistic(per_time[["count", "sum"]].to_numpy(np.float64), ratio_of_sums)
    ts = per_time.index.to_numpy(np.int64)
    return judge(claim, statistic, ts, len(per_time), threshold, above, s.boot, min_block=min_block)


def funding_claims(series: Sequence[FundingSeries], settings: FundingSettings = FundingSettings()) -> FundingResult:
    s = settings
    round_trip = s.costs.round_trips(0.0)[s.fee_mode]
    rows, count_rows, hit_rows = [], [], []
    for fs in series:
        det = detect(fs, s.window, s.min_history, s.z_threshold)
        warm = np.isfinite(det.z)
        hits = (np.abs(det.z[warm]) > 3.0).astype(np.float64)
        hit_rows.append(pd.DataFrame({"venue": fs.venue, "history": not fs.priced, "ts": fs.ts[warm], "hit": hits}))
        n_signals = int((det.direction != 0).sum())
        n_priced = 0
        if fs.priced:
            pnl, short = leg_pnl(fs, det, s.hold, round_trip)
            n_priced = len(pnl.index)
            rows.append(
                pd.DataFrame(
                    {
                        "venue": fs.venue,
                        "symbol": fs.symbol,
                        "settlement": pd.to_datetime(fs.ts[pnl.index], utc=True),
                        "ts": fs.ts[pnl.index],
                        "z": det.z[pnl.index],
                        "direction": det.direction[pnl.index],
                        "rate": fs.rate[pnl.index],
                        "funding_bps": pnl.funding,
                        "price_bps": pnl.price,
                        "fees_bps": pnl.fees,
                        "net_bps": pnl.net,
                        "hedged_price_bps": pnl.hedged_price,
                        "hedged_net_bps": pnl.hedged_net,
                    }
                )
            )
            if short:
                log.info("%s: %d signals without %d following priced settlements", fs.name, short, s.hold)
        count_rows.append(
            {
                "venue": fs.venue,
                "symbol": fs.symbol,
                "source": fs.source,
                "first": pd.Timestamp(int(fs.ts[0]), tz="UTC"),
                "last": pd.Timestamp(int(fs.ts[-1]), tz="UTC"),
                "settlements": len(fs.ts),
                "warm": int(warm.sum()),
                "z_above_3": int(hits.sum()),
                "share": float(hits.mean()) if len(hits) else float("nan"),
                "signals": n_signals,
                "priced_signals": n_priced,
            }
        )
    counts = pd.DataFrame(count_rows)
    signals = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    hits_all = pd.concat(hit_rows, ignore_index=True)
    claims: list[Claim] = []

    # The series of one venue (BTC and ETH, USDT- and coin-margined) move together: the unit of
    # resampling is a settlement time, and a statistic is a ratio of sums over the times drawn.
    venues = list(dict.fromkeys(hits_all["venue"]))
    bars_venues = list(dict.fromkeys(hits_all.loc[~hits_all["history"], "venue"]))
    groups = [*venues, "pooled"] if len(bars_venues) > 1 else venues
    for venue in groups:
        chosen = hits_all[hits_all["venue"] == venue] if venue != "pooled" else hits_all[~hits_all["history"]]
        per_time = chosen.groupby("ts")["hit"].agg(["sum", "count"])
        claim = funding_z3_claim()
        claim.id = f"funding_z3[{venue}]"
        claim.n_unit = "settlement times"
        _judge(claim, per_time, 0.05, False, s, 1)
        hits_n, total = int(chosen["hit"].sum()), len(chosen)
        claim.note = (
            f"{hits_n} of {total} settled rates had |z| > 3 ({hits_n / max(total, 1):.2%}; a normal tail: 0.27%)"
            + (" (a history file: not pooled with the bars)" if venue != "pooled" and chosen["history"].iloc[0] else "")
            + "; "
            + claim.note
        )
        claims.append(claim)

    priced = list(dict.fromkeys(signals["venue"])) if len(signals) else []
    groups = [*priced, "pooled"] if len(priced) > 1 else priced
    for column, cid, words, fees in (
        ("net_bps", "funding_leg_net", "the funding leg of a |z| > 3 signal pays after costs", round_trip),
        (
            "hedged_net_bps",
            "funding_hedged_net",
            "the same signal with the spot leg taken opposite (basis-hedged) pays after both legs' costs",
            2 * round_trip,
        ),
    ):
        for venue in groups:
            frame = signals if venue == "pooled" else signals[signals["venue"] == venue]
            frame = frame[np.isfinite(frame[column])]
            per_time = frame.groupby("ts")[column].agg(["sum", "count"])
            claim = Claim(
                f"{cid}[{venue}]",
                "Funding",
                words + " (Alexander & Heck 2020: funding dislocations revert)",
                f"mean per signal of funding + price move - fees ({s.fee_mode}, {fees:g} bps), bps of entry notional, "
                f"held {s.hold} interval(s)",
                "mean > 0",
                n_unit="settlement times with a signal",
            )
            _judge(claim, per_time, 0.0, True, s, s.hold)
            price = "price_bps" if column == "net_bps" else "hedged_price_bps"
            claim.note = (
                f"{len(frame)} signals; means: funding {frame['funding_bps'].mean():+.2f}, price {frame[price].mean():+.2f}, "
                f"fees {-fees:.2f} bps; " + claim.note
            )
            claims.append(claim)

    settle(claims)
    summary = [f"{len(series)} funding series; detector window {s.window}, min history {s.min_history}, z > {s.z_threshold:g}"]
    for r in count_rows:
        summary.append(
            f"  {r['venue']:<18} {r['symbol']:<40.40} {r['first']:%Y-%m-%d} -> {r['last']:%Y-%m-%d}  "
            f"{r['z_above_3']:>4} of {r['warm']:>5} settlements |z| > 3 ({r['share']:.2%}), {r['signals']} signals, "
            f"{r['priced_signals']} priced"
        )
    return FundingResult(claims, signals, counts, summary)
