"""Taker against maker execution, side by side, through the real backtest (`run_backtest`).

For each catalog: the same strategy with taker entries and take-profits (`configs/backtest.yaml`'s
modes), then with maker entries and take-profits (`configs/backtest_maker.yaml`'s, Nautilus's queue
position on); on `--sensitivity` catalogs also the maker run with the queue on/off and
`prob_fill_on_limit` 1.0/0.5. One line per run: round trips, the maker fill ratio, win rate, P&L
split (settlement currency and bps of entry notional), the mean markouts of the entry fills, and the
worst take-profit round trip's net P&L.

    PYTHONPATH=. python bench/maker_study.py --catalog sim=catalog [--catalog usdm_2024_08=PATH:BTCUSDT-PERP.BINANCE]
        [--sensitivity sim] [--fast]

`--fast` shortens the warm-up for captures of a few minutes (VPIN over 2 minutes of volume, Hurst
on 64 one-second returns); `vpin.volume_per_hour` is the capture's own traded volume per hour, and
`orders.base_size` 0.05 BTC (USDT-M: after the VPIN and confidence multipliers still above the
100 USDT minimum notional) or 5 contracts (COIN-M). `--open-gates` opens the entry gates
(no Hurst dead zone, `signals.min_direction` 0.05, no ensemble confidence gate) so that a capture of a
few minutes gives enough round trips to compare the executions: the signals still pick the side, but
these runs say nothing about the default strategy's edge. The machine may be shared: wall times are
not the point here.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import pandas as pd

from nautilus_trader.model.data import TradeTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.backtest.report import economics_bps
from scalp_nautilus.backtest.report import pnl_split
from scalp_nautilus.backtest.runner import run_backtest
from scalp_nautilus.backtest.settings import load_backtest_settings

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
MODES = {
    "taker": {"orders": {"entry": "taker"}, "exits": {"take_profit_order": "taker"}},
    "maker": {"orders": {"entry": "maker"}, "exits": {"take_profit_order": "maker"}},
}


def volume_per_hour(catalog: str, instrument_id: str) -> float:
    trades = ParquetDataCatalog(catalog).query(TradeTick, identifiers=[instrument_id])
    span_h = (trades[-1].ts_event - trades[0].ts_event) / 3.6e12
    return sum(t.size.as_double() for t in trades) / span_h


OPEN_GATES = {
    "signals": {"dead_zone_low": 0.5, "dead_zone_high": 0.5, "min_direction": 0.05},
    "ensemble": {"confidence_gate": 0.0},
}


def run(
    name: str, catalog: str, instrument_id: str, mode: str, fast: bool, queue: bool | None, prob: float, open_gates: bool = False
) -> dict:
    venue = "SIM" if instrument_id.endswith(".SIM") else "BINANCE"
    overrides = {
        "catalog": catalog,
        "instrument_id": instrument_id,
        "plots": False,
        "log_level": "ERROR",
        "reports_dir": tempfile.mkdtemp(prefix=f"maker_study_{name}_"),
        "venue": {"name": venue, "queue_position": queue, "fill": {"prob_fill_on_limit": prob}},
    }
    strategy = dict(MODES[mode])
    if instrument_id.startswith("BTCUSD-PERP"):
        overrides["venue"]["starting_balances"] = ["1 BTC"]
    if fast:
        base = 5.0 if instrument_id.startswith("BTCUSD-PERP") else 0.05
        strategy = {
            **strategy,
            "vpin": {"volume_per_hour": volume_per_hour(catalog, instrument_id), "window_minutes": 2.0},
            "hurst": {"window": 64},
            "orders": {**strategy["orders"], "base_size": base},
        }
    if open_gates:
        strategy = {**strategy, **OPEN_GATES}
    settings = load_backtest_settings(CONFIGS / "backtest.yaml", overrides, strategy)
    outcome = run_backtest(settings)
    [rep] = outcome.strategies
    trips = rep.round_trips
    split, bps = pnl_split(rep), economics_bps(rep)
    entries = rep.fills[rep.fills["tag"].str.startswith("entry:")]
    c = rep.execution
    take_profits = [t.realized_pnl for t in trips if t.exit_reason == "take_profit"]
    return {
        "data": name,
        "gates": "open" if open_gates else "default",
        "mode": mode,
        "queue": mode == "maker" if queue is None else queue,
        "p_limit": prob,
        "trips": len(trips),
        "maker_fill": f"{c['maker_filled']}/{c['maker_posted']}" if c.get("maker_posted") else "-",
        "refused": c.get("post_only_refusals", 0),
        "win": sum(t.realized_pnl > 0 for t in trips) / len(trips) if trips else math.nan,
        "gross": split["trading"],
        "fees": -split["fees"],
        "funding": split["funding"],
        "net": split["net"],
        "gross_bps": bps["trading"],
        "fees_bps": -bps["fees"],
        "net_bps": bps["net"],
        **{f"entry_mo_{h}s": entries[f"markout_{h}s_bps"].mean() for h in (1, 5, 30)},
        "tp_trips": len(take_profits),
        "worst_tp": min(take_profits) if take_profits else math.nan,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--catalog", action="append", required=True, help="NAME=PATH[:INSTRUMENT_ID] (default BTCUSDT-PERP.SIM)")
    p.add_argument("--sensitivity", action="append", default=[], help="catalog NAMEs for the queue / prob_fill_on_limit grid")
    p.add_argument("--fast", action="store_true", help="short warm-up for captures of a few minutes")
    p.add_argument("--open-gates", action="store_true", help="also run every catalog with the entry gates open")
    p.add_argument("--csv", type=Path, help="write the table here too")
    args = p.parse_args()
    rows = []
    for spec in args.catalog:
        name, rest = spec.split("=", 1)
        path, _, iid = rest.partition(":")
        iid = iid or "BTCUSDT-PERP.SIM"
        fast = args.fast and not iid.endswith(".SIM")
        for gates in (False, True) if args.open_gates else (False,):
            for mode in MODES:
                rows.append(run(name, path, iid, mode, fast, None, 1.0, gates))
            if name in args.sensitivity:
                for queue, prob in ((False, 1.0), (True, 0.5), (False, 0.5)):
                    rows.append(run(name, path, iid, "maker", fast, queue, prob, gates))
            print(pd.DataFrame(rows[-2:]).to_string(float_format=lambda x: f"{x:.3f}"), flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
