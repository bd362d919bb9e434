"""The end of a backtest: the summary table and the report folder.

P&L, in the instrument's settlement currency:
- trading: the round trips' gross P&L (Nautilus's realized P&L plus the commissions it deducted);
- fees: the commissions (`venue.fees`, or the instrument's maker/taker rates);
- funding: what the strategy's `FundingLedger` booked (Nautilus's backtest settles no funding);
- net = trading - fees + funding. The account's balance change (Nautilus) must equal
  trading - fees once flat; the summary prints both.

Trades are round trips (flat -> position -> flat); a win is a round trip with a positive P&L after
its fees. The equity curve is the strategy's timeline: account balance + unrealized P&L at the
mid + funding booked, sampled on book batches at most once per `equity_sample_s` (1 s) of exchange
time. Max drawdown is read on that curve; the Sharpe ratio on its 1-minute returns (last sample of
each minute), annualised by sqrt(525,960 minutes a year: crypto trades around the clock), and only
with at least a day of them (1,440): annualised from n returns its standard error is about
sqrt(525,960 / n), about 94 for an hour, so a shorter run prints n/a and says why.

Figures are written at the instrument's precision: money (P&L, fees, funding, equity) at the
settlement currency's, quantities at the size precision, prices at the price precision; a mid or a
mark may sit half a tick off the grid (one more digit), an average of fills over several levels
between ticks (two more).

Per round trip: each trip's net (its realized P&L after fees, plus the funding booked while it
was open) in bps of its entry notional. The summary prints the mean and the median of those, each
with a 95% interval (the mean's from arch's stationary block bootstrap over the trips in time
order, Politis-White's block length; the median's from order statistics, distribution-free for
independent trips), beside the notional-weighted figure (all trips' net over all their entry
notional), which large trips dominate. Fewer than 20 trips get no interval.

`cold` warning: when `cold` blocked more than half of the flat decisions (those taken without a
position, not counting a `warm_up` lead-in), the warm-ups took most of the run and its figures
say little; the summary says so.

Execution (`scalp_nautilus.strategy.execution`): the entry and take-profit modes, the maker fill
ratio (maker entries with any fill / maker entries posted, reprices counted as posts), post-only
refusals, the break-even move of a take-profit round trip (its fees for the modes, in bps of
notional; the spread comes on top), and the round trips' economics in bps of their entry notional:
gross edge, fees, funding and net. Markouts: for every fill, the signed mid move 1 s, 5 s and 30 s
after it in bps (`scalp_nautilus.strategy.records.Markouts`); the summary gives their mean per fill
tag (entry signal set, exit reason) and `fills.csv` the quantity-weighted mean per order.

Files: `fills.csv`, `positions.csv`, `account.csv` (Nautilus's reports; fills carry our order tags
``entry:<signal>`` / ``exit:<reason>`` and the markout columns), `markouts.csv` (one row per fill),
`round_trips.csv`, `funding.csv`, `decisions.csv`
(decision outcome per book batch), `timeline.csv` (the sampled equity and features), `summary.txt`,
and with plots on: `equity.png` (equity and drawdown), `trades.png` (mid with entries and exits),
`features.png` (VPIN with its regime bounds, Hurst with its bands and dead zone, regime multiplier).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Currency

from scalp_nautilus.feature_table import unavailable_text
from scalp_nautilus.research.intervals import MIN_UNITS
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.intervals import block_length
from scalp_nautilus.research.intervals import interval
from scalp_nautilus.research.intervals import mean_statistic
from scalp_nautilus.strategy.decision import ENTRY_OUTCOMES
from scalp_nautilus.strategy.decision import EXIT_OUTCOMES
from scalp_nautilus.strategy.execution import EXCHANGE_STOP
from scalp_nautilus.strategy.records import MARKOUT_HORIZONS_S
from scalp_nautilus.strategy.records import StrategyReport
from scalp_nautilus.top_of_book import TOP_OF_BOOK

MARKOUT_COLUMNS = [f"markout_{h}s_bps" for h in MARKOUT_HORIZONS_S]
MINUTES_PER_YEAR = 365.25 * 24 * 60
MIN_SHARPE_RETURNS = 24 * 60  # a day of one-minute returns
COLD_WARNING_SHARE = 0.5  # of the flat decisions
# per-trip intervals: bps are not an IC's unit, so the Monte Carlo target is a hundredth of a bp,
# within a cap of resamples that keeps a summary quick
TRIP_BOOT = BootstrapSettings(min_reps=2000, max_reps=16_000, mc_target=0.01)


def max_drawdown(equity: pd.Series) -> tuple[float, float]:
    """Largest fall from a running peak: (absolute, fraction of that peak)."""
    if equity.empty:
        return 0.0, 0.0
    values = equity.to_numpy(dtype=float)
    peaks = np.maximum.accumulate(values)
    falls = peaks - values
    i = int(np.argmax(falls))
    return float(falls[i]), float(falls[i] / peaks[i]) if peaks[i] > 0 else 0.0


def minute_returns(equity: pd.Series) -> pd.Series:
    """Returns of the last sample of each minute of `equity` (indexed by time)."""
    return equity.resample("1min").last().dropna().pct_change().dropna()


def sharpe(equity: pd.Series, minimum: int = MIN_SHARPE_RETURNS) -> float:
    """Annualised Sharpe of the 1-minute returns of `equity` (indexed by time); NaN with fewer
    than `minimum` returns or none that vary."""
    returns = minute_returns(equity)
    if len(returns) < minimum:
        return math.nan
    std = returns.std(ddof=1)
    if not std > 0:
        return math.nan
    return float(returns.mean() / std * math.sqrt(MINUTES_PER_YEAR))


def pnl_split(report: StrategyReport) -> dict[str, float]:
    trips = report.round_trips
    fees = sum(t.commissions for t in trips)
    realized = sum(t.realized_pnl for t in trips)
    funding = report.funding_total
    return {"trading": realized + fees, "fees": fees, "funding": funding, "net": realized + funding}


def economics_bps(report: StrategyReport) -> dict[str, float]:
    """The round trips' gross edge, fees, funding and net in bps of their summed entry notional
    (NaN without round trips)."""
    notional = sum(t.notional for t in report.round_trips)
    split = pnl_split(report)
    if not notional > 0.0:
        return dict.fromkeys(split, math.nan)
    return {k: v / notional * 1e4 for k, v in split.items()}


def trip_net_bps(rep: StrategyReport) -> np.ndarray:
    """Each round trip's net in bps of its entry notional: realized P&L after fees plus the funding
    booked while it was open (NaN for a trip without a notional)."""
    pays = [(p.ts_ns, p.amount) for p in rep.funding]
    out = []
    for t in rep.round_trips:
        funding = sum(a for ts, a in pays if t.ts_opened <= ts <= t.ts_closed)
        out.append((t.realized_pnl + funding) / t.notional * 1e4 if t.notional > 0.0 else math.nan)
    return np.array(out, dtype=np.float64)


def per_trip(net_bps: np.ndarray) -> dict[str, float]:
    """Mean and median of per-trip net bps with 95% intervals (NaN bounds below MIN_UNITS trips)."""
    x = net_bps[np.isfinite(net_bps)]
    out = dict.fromkeys(("mean", "mean_lo", "mean_hi", "median", "median_lo", "median_hi"), math.nan)
    out["n"] = len(x)
    if not len(x):
        return out
    out["mean"], out["median"] = float(x.mean()), float(np.median(x))
    if len(x) < MIN_UNITS:
        return out
    iv = interval(mean_statistic(x), block_length(x), TRIP_BOOT)
    if iv is not None:
        out["mean_lo"], out["mean_hi"] = iv.lo, iv.hi
    from scipy.stats import binom  # lazy: scipy.stats costs ~1 s of every backtest's start

    # order statistics k and n + 1 - k bracket the median with >= 95% (binomial(n, 1/2))
    k = max(1, int(binom.ppf(0.025, len(x), 0.5)))
    s = np.sort(x)
    out["median_lo"], out["median_hi"] = float(s[k - 1]), float(s[len(x) - k])
    return out


def cold_share(outcomes: dict[str, int]) -> tuple[int, int]:
    """(`cold` decisions, flat decisions that could have traded: not the `warm_up` lead-in)."""
    flat = sum(outcomes.get(k, 0) for k in ENTRY_OUTCOMES if k != "warm_up")
    return outcomes.get("cold", 0), flat


def markout_table(fills: pd.DataFrame) -> pd.DataFrame:
    """Mean markouts (bps) and fill counts per fill tag."""
    if fills.empty:
        return pd.DataFrame(columns=["fills", *MARKOUT_COLUMNS])
    grouped = fills.groupby("tag")
    table = grouped[MARKOUT_COLUMNS].mean()
    table.insert(0, "fills", grouped.size())
    return table


def fills_with_markouts(fills: pd.DataFrame, reports: list[StrategyReport]) -> pd.DataFrame:
    """Nautilus's fills report (one row per order) with the quantity-weighted mean markouts of the
    order's fills."""
    rows = [r.fills for r in reports if not r.fills.empty]
    if fills.empty or not rows:
        return fills
    per_fill = pd.concat(rows)
    weighted = per_fill[MARKOUT_COLUMNS].mul(per_fill["qty"], axis=0)
    weights = per_fill[MARKOUT_COLUMNS].notna().mul(per_fill["qty"], axis=0)
    by_order = weighted.groupby(per_fill["client_order_id"]).sum(min_count=1) / weights.groupby(per_fill["client_order_id"]).sum()
    key = fills["client_order_id"].astype(str) if "client_order_id" in fills else fills.index.astype(str)
    return fills.assign(**{c: key.map(by_order[c]).to_numpy() for c in MARKOUT_COLUMNS})


def summary(outcome) -> str:
    r = outcome.result
    start, end = outcome.data_span
    lines = [
        f"instrument      {outcome.instrument.id}",
        f"market data     {pd.Timestamp(start, tz='UTC')} -> {pd.Timestamp(end, tz='UTC')} ({(end - start) / 60e9:.1f} min)",
        f"replayed        {pd.Timestamp(r.backtest_start, tz='UTC')} -> {pd.Timestamp(r.backtest_end, tz='UTC')} "
        "(from the earliest record of any type, e.g. funding history)",
        f"events          {r.iterations:,} in {outcome.wall_seconds:.1f} s wall",
        f"orders / fills  {r.total_orders} / {len(outcome.fills)}",
    ]
    if isinstance(outcome.instrument, CurrencyPair):
        lines.append(
            f"funding         none: {outcome.instrument.id} is a spot pair (no funding data; the funding "
            "features stay off and no payment is booked)"
        )
    balance_change = _balance_change(outcome)
    for rep in outcome.strategies:
        lines += ["", *strategy_table(rep, outcome.starting_balance, balance_change)]
    lines += ["", f"reports         {outcome.reports_dir.resolve()}"]
    return "\n".join(lines)


def _sharpe_text(equity: pd.Series) -> str:
    n = len(minute_returns(equity))
    if n < MIN_SHARPE_RETURNS:
        return f"n/a ({n:,} one-minute returns; annualising needs {MIN_SHARPE_RETURNS:,}, a day)"
    sr = sharpe(equity)
    if math.isnan(sr):
        return "n/a (the equity never moved)"
    return f"{sr:.2f} (1-min returns, annualised; standard error about {math.sqrt(MINUTES_PER_YEAR / n):.1f})"


# What a backtest's balance change counts (the live report's is the venue's: `live.session.VENUE_BALANCE`).
NAUTILUS_BALANCE = "Nautilus: trading - fees, no funding"


def strategy_table(
    rep: StrategyReport, starting_balance: float, balance_change: float, balance_source: str = NAUTILUS_BALANCE
) -> list[str]:
    cur = rep.currency
    m = _money_digits(cur)
    split = pnl_split(rep)
    trips = rep.round_trips
    wins = sum(1 for t in trips if t.realized_pnl > 0)
    equity = _equity(rep)
    dd, dd_frac = max_drawdown(equity)
    lines = [
        f"strategy on {rep.instrument_id}: {rep.batches:,} book batches"
        + (" (top of book: quote ticks)" if rep.book_mode == TOP_OF_BOOK else ""),
        f"  P&L ({cur})      trading {split['trading']:+.{m}f}   fees {-split['fees']:+.{m}f}   "
        f"funding {split['funding']:+.{m}f}   net {split['net']:+.{m}f}",
        f"  account         balance change {balance_change:+.{m}f} ({balance_source})",
        f"  trades          {len(trips)} round trips, win rate "
        + (f"{wins / len(trips):.0%}" if trips else "n/a")
        + f", {len(rep.funding)} funding payments",
        f"  equity curve    max drawdown {dd:.{m}f} {cur} ({dd_frac:.3%} of peak), Sharpe {_sharpe_text(equity)}"
        + f"; start {starting_balance:g} {cur}",
        "  decisions (book batches; entries: first rule that blocked)",
    ]
    if rep.unavailable:  # the book showed too few levels for these: NaN (or -1 / False) in every row
        lines.insert(-1, f"  unavailable     {unavailable_text(rep.unavailable)}")
    counts = rep.outcomes
    taken = counts.get("taken", 0)
    blocked = {k: counts.get(k, 0) for k in ENTRY_OUTCOMES[1:] if counts.get(k, 0)}
    lines.append(f"    entries taken {taken}; blocked: " + (", ".join(f"{k} {v:,}" for k, v in blocked.items()) or "none"))
    cold, flat = cold_share(counts)
    if flat and cold > COLD_WARNING_SHARE * flat:
        lines.append(
            f"  WARNING         `cold` blocked {cold / flat:.1%} of the flat decisions ({cold:,} of {flat:,}): the "
            "warm-ups (VPIN's window of volume, Hurst's returns, ...) took most of this run, so its figures say "
            "little; run a longer span, or fit the windows to the data with `research calibrate`"
        )
    # Each round trip once, by what closed it (the exchange stop's fills included); the exit
    # decisions (a taker take-profit that did not fill, then a stop) are in decisions.csv.
    closed_by = Counter(t.exit_reason or "unknown" for t in trips)
    reasons = [*EXIT_OUTCOMES, EXCHANGE_STOP, *sorted(set(closed_by) - {*EXIT_OUTCOMES, EXCHANGE_STOP})]
    lines.append("    exits (round trips by what closed them) " + ", ".join(f"{k} {closed_by.get(k, 0)}" for k in reasons))
    kinds = pd.Series([t.kind for t in trips], dtype=object).value_counts().to_dict() if trips else {}
    if kinds:
        lines.append("    round trips by signal " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    lines += _execution_lines(rep)
    if rep.skips:
        lines.append("  skipped inputs  " + "; ".join(f"{k} {v:,}" for k, v in rep.skips.items()))
    return lines


def _money_digits(currency: str) -> int:
    """Decimals of the settlement currency (USDT and BTC 8, USD 2); 8 for a code Nautilus does not know."""
    try:
        return Currency.from_str(currency).precision
    except (ValueError, KeyError):
        return 8


def _plus(digits: int | None, extra: int) -> int | None:
    return None if digits is None else digits + extra


def report_frames(rep: StrategyReport, instrument) -> dict[str, pd.DataFrame]:
    """round_trips, funding and timeline, each figure rounded to its precision (see the module doc);
    without the instrument (an unresolved one), money only."""
    money = _money_digits(rep.currency)
    px, qty = (instrument.price_precision, instrument.size_precision) if instrument is not None else (None, None)
    trips = pd.DataFrame([asdict(t) for t in rep.round_trips])
    funding = pd.DataFrame([asdict(p) for p in rep.funding])
    timeline = rep.timeline
    digits = {
        "round_trips": {
            "quantity": qty,
            "avg_px_open": _plus(px, 2),
            "avg_px_close": _plus(px, 2),
            "realized_pnl": money,
            "commissions": money,
        },
        "funding": {"mark": _plus(px, 1), "position": qty, "amount": money},
        "timeline": {"mid": _plus(px, 1), "equity": money, "position": qty},
    }
    frames = {"round_trips": trips, "funding": funding, "timeline": timeline}
    return {
        name: frame.round({c: n for c, n in digits[name].items() if c in frame.columns and n is not None})
        if len(frame)
        else frame
        for name, frame in frames.items()
    }


def _execution_lines(rep: StrategyReport) -> list[str]:
    c = rep.execution
    posted, filled = c.get("maker_posted", 0), c.get("maker_filled", 0)
    ratio = f"{filled}/{posted} ({filled / posted:.0%})" if posted else "n/a"
    e = economics_bps(rep)
    lines = [
        f"  execution       entries {rep.entry_mode}, take-profits {rep.take_profit_mode}; maker fill ratio {ratio}, "
        f"post-only refusals {c.get('post_only_refusals', 0)}, reprices {c.get('reprices', 0)}, cancels ttl "
        f"{c.get('cancel_ttl', 0)} / signal {c.get('cancel_signal', 0)} / stale feed {c.get('cancel_stale_feed', 0)}, "
        f"partial fills {c.get('partial_fills', 0)}; "
        f"maker take-profits posted {c.get('tp_posted', 0)}, fills {c.get('tp_filled', 0)}, refused {c.get('tp_refusals', 0)}",
        f"  break-even      {rep.round_trip_fee_bps:.2f} bps of notional per take-profit round trip in fees, plus the spread",
        "  round trips     bps of entry notional, notional-weighted (all trips' sums over their notional): "
        + (
            "n/a"
            if math.isnan(e["net"])
            else f"gross {e['trading']:+.2f}   fees {-e['fees']:+.2f}   funding {e['funding']:+.2f}   net {e['net']:+.2f}"
        ),
        "  per trip        net bps of each trip's entry notional: " + _per_trip_text(per_trip(trip_net_bps(rep))),
    ]
    table = markout_table(rep.fills)
    if not table.empty:
        lines.append(
            "  markouts (bps, signed mid move after each fill; mean per fill tag)  "
            + "  ".join(f"{h} s" for h in MARKOUT_HORIZONS_S)
        )
        for tag, r in table.iterrows():
            lines.append(
                f"    {tag or '(untagged)':<28} {int(r['fills']):>5} fills  " + "  ".join(f"{r[c]:+.2f}" for c in MARKOUT_COLUMNS)
            )
    return lines


def _per_trip_text(t: dict[str, float]) -> str:
    if not t["n"]:
        return "n/a (no round trip)"
    if math.isnan(t["mean_lo"]):
        return f"mean {t['mean']:+.2f}, median {t['median']:+.2f} over {t['n']} trips (no interval: it needs {MIN_UNITS} trips)"
    return (
        f"mean {t['mean']:+.2f} [{t['mean_lo']:+.2f}, {t['mean_hi']:+.2f}], median {t['median']:+.2f} "
        f"[{t['median_lo']:+.2f}, {t['median_hi']:+.2f}] over {t['n']} trips (95%: block bootstrap; order statistics)"
    )


def _equity(rep: StrategyReport) -> pd.Series:
    tl = rep.timeline
    return pd.Series(tl["equity"].to_numpy(), index=pd.DatetimeIndex(tl["ts"]), dtype=float)


def _balance_change(outcome) -> float:
    account = outcome.account
    if account.empty:
        return 0.0
    return float(account["total"].astype(float).iloc[-1]) - outcome.starting_balance


def write_reports(outcome, plots: bool = True) -> None:
    folder = outcome.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    fills_with_markouts(outcome.fills, outcome.strategies).to_csv(folder / "fills.csv")
    outcome.positions.to_csv(folder / "positions.csv")
    outcome.account.to_csv(folder / "account.csv")
    for i, rep in enumerate(outcome.strategies):
        write_strategy_files(
            rep, outcome.fills, folder, "" if len(outcome.strategies) == 1 else f"_{i}", plots, outcome.instrument
        )
    (folder / "summary.txt").write_text(summary(outcome) + "\n")


def write_strategy_files(
    rep: StrategyReport, fills: pd.DataFrame, folder: Path, suffix: str = "", plots: bool = True, instrument=None
) -> None:
    """One strategy's files (backtests and the live session report), at `instrument`'s precision."""
    frames = report_frames(rep, instrument)
    frames["round_trips"].to_csv(folder / f"round_trips{suffix}.csv", index=False)
    frames["funding"].to_csv(folder / f"funding{suffix}.csv", index=False)
    pd.Series(rep.outcomes, name="book_batches").rename_axis("outcome").to_csv(folder / f"decisions{suffix}.csv")
    frames["timeline"].to_csv(folder / f"timeline{suffix}.csv", index=False)
    rep.fills.to_csv(folder / f"markouts{suffix}.csv", index=False)
    if plots and len(rep.timeline):
        _plots(rep, fills, folder, suffix)


def _plots(rep: StrategyReport, fills: pd.DataFrame, folder: Path, suffix: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = rep.timeline
    ts = tl["ts"]
    equity = tl["equity"]
    drawdown = equity - equity.cummax()

    fig, (a, b) = plt.subplots(2, 1, sharex=True, figsize=(11, 6), height_ratios=(2, 1))
    a.plot(ts, equity, lw=1)
    a.set_ylabel(f"equity ({rep.currency})")
    a.set_title(f"{rep.instrument_id}: equity (balance + unrealized + funding), 1 s samples")
    b.fill_between(ts, drawdown, 0, color="tab:red", alpha=0.4, lw=0)
    b.set_ylabel("drawdown")
    fig.tight_layout()
    fig.savefig(folder / f"equity{suffix}.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 5))
    ax.plot(ts, tl["mid"], lw=0.8, color="0.3", label="mid")
    if not fills.empty and "tags" in fills:
        f = fills[fills["instrument_id"].astype(str) == rep.instrument_id]
        when = pd.to_datetime(f["ts_last"], utc=True)
        px = f["avg_px"].astype(float)
        entry = f["tags"].astype(str).str.contains("entry:")
        buy = f["side"].astype(str) == "BUY"
        for mask, marker, color, label in (
            (entry & buy, "^", "tab:green", "entry buy"),
            (entry & ~buy, "v", "tab:red", "entry sell"),
            (~entry, "x", "k", "exit"),
        ):
            if mask.any():
                ax.scatter(when[mask], px[mask], marker=marker, color=color, s=30, label=label, zorder=3)
    ax.set_title(f"{rep.instrument_id}: mid with entries and exits")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / f"trades{suffix}.png", dpi=110)
    plt.close(fig)

    fig, (a, b, c) = plt.subplots(3, 1, sharex=True, figsize=(11, 7))
    bounds = rep.bounds
    a.plot(ts, tl["vpin"], lw=0.8)
    vpin_bounds = (("vpin_low", "tab:green"), ("vpin_medium", "tab:olive"), ("vpin_high", "tab:red"))
    for key, color in vpin_bounds:
        if key in bounds:
            a.axhline(bounds[key], ls="--", lw=0.7, color=color)
    if "vpin_low" not in bounds:
        a.text(0.01, 0.9, "regime bounds: rolling quantiles (not drawn)", transform=a.transAxes, fontsize=8)
    a.set_ylabel("VPIN")
    a.set_ylim(0, 1)
    b.plot(ts, tl["hurst"], lw=0.8, color="tab:purple")
    b.axhspan(bounds["hurst_dead_low"], bounds["hurst_dead_high"], color="0.85", label="dead zone")
    b.axhline(bounds["hurst_mr"], ls="--", lw=0.7, color="tab:blue")
    b.axhline(bounds["hurst_momentum"], ls="--", lw=0.7, color="tab:orange")
    b.set_ylabel("Hurst")
    b.set_ylim(0, 1)
    c.plot(ts, tl["regime_multiplier"], lw=0.8, color="tab:brown")
    c.set_ylabel("regime mult.")
    c.set_ylim(0, 1.05)
    a.set_title(f"{rep.instrument_id}: VPIN, Hurst and the microstructure regime (1 s samples)")
    fig.tight_layout()
    fig.savefig(folder / f"features{suffix}.png", dpi=110)
    plt.close(fig)


def metrics(rep: StrategyReport, since_ns: int = 0) -> dict[str, float | int]:
    """One strategy's figures as plain numbers (a sweep's results row): the summary's P&L split,
    round trips, win rate, the per-trip net bps (notional-weighted, mean, median), max drawdown and
    Sharpe (on the equity from `since_ns`: a walk-forward window without its lead-in), the share
    of flat decisions `cold` blocked, and the decision counts (`decisions_<outcome>`)."""
    split = pnl_split(rep)
    trips = rep.round_trips
    equity = _equity(rep)
    if since_ns:
        equity = equity[equity.index >= pd.Timestamp(since_ns, tz="UTC")]
    dd, dd_frac = max_drawdown(equity)
    per = per_trip(trip_net_bps(rep))
    cold, flat = cold_share(rep.outcomes)
    row: dict[str, float | int] = {
        "net": split["net"],
        "trading": split["trading"],
        "fees": split["fees"],
        "funding": split["funding"],
        "round_trips": len(trips),
        "win_rate": sum(1 for t in trips if t.realized_pnl > 0) / len(trips) if trips else math.nan,
        "net_bps_weighted": economics_bps(rep)["net"],
        "trip_mean_bps": per["mean"],
        "trip_median_bps": per["median"],
        "max_drawdown": dd,
        "max_drawdown_frac": dd_frac,
        "sharpe": sharpe(equity),
        "cold_share": cold / flat if flat else math.nan,
        "batches": rep.batches,
    }
    row.update({f"decisions_{k}": v for k, v in rep.outcomes.items()})
    return row
