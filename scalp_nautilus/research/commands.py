"""`scalp-nautilus research edge`, `research calibrate`, `research funding` and `research lookahead`
(registered by `cli.py`). The look-ahead audit drives the feature replay, so it lives beside it
(`feature_replay/lookahead.py`) and is imported only when its command runs: research itself reads
recorded Parquet rows only."""

from __future__ import annotations

from pathlib import Path

from scalp_nautilus.cli import FEATURES_HELP
from scalp_nautilus.errors import InputError
from scalp_nautilus.research.calibrate import CalibrationSettings
from scalp_nautilus.research.edge import COST_MODES
from scalp_nautilus.research.edge import HORIZONS_S
from scalp_nautilus.research.edge import Costs
from scalp_nautilus.research.intervals import BootstrapSettings

_C = Costs()
_K = CalibrationSettings()
_B = BootstrapSettings()


def register(sub) -> None:
    research = sub.add_parser("research", help="edge and claims of the features; calibration for an instrument")
    cmds = research.add_subparsers(title="research commands")

    ed = cmds.add_parser(
        "edge",
        help="ICs, deciles and edge after costs of every signal, DESIGN's claims tested",
    )
    ed.add_argument("--features", nargs="+", required=True, type=Path, help=FEATURES_HELP)
    ed.add_argument("--out", required=True, type=Path, help="folder for edge.csv, claims.csv, report.html")
    ed.add_argument(
        "--lee-ready",
        nargs="+",
        type=Path,
        help="the same data recorded with classifier.ignore_venue: true, files in the same order (Lee-Ready claim)",
    )
    ed.add_argument(
        "--horizons", nargs="+", type=float, default=list(HORIZONS_S), help="forward-return horizons, in seconds of event time"
    )
    BootstrapSettings.add_arguments(ed, "each interval", target="--mc-target")
    ed.add_argument(
        "--mc-target", type=float, default=_B.mc_target, help="largest Monte Carlo error (95%% half-width) of an interval bound"
    )
    ed.add_argument(
        "--bootstrap",
        choices=["stationary", "circular"],
        default=_B.method,
        help="arch's block bootstrap: stationary (random block lengths) or circular",
    )
    ed.add_argument("--seed", type=int, default=_B.seed, help="the bootstrap's random seed")
    ed.add_argument("--sample-ms", type=float, default=200.0, help="rows thinned to one per this many milliseconds of event time")
    ed.add_argument("--maker-bps", type=float, default=_C.maker_bps, help="maker fee per leg, in bps of notional")
    ed.add_argument("--taker-bps", type=float, default=_C.taker_bps, help="taker fee per leg, in bps of notional")
    ed.set_defaults(run=_cmd_edge)

    ca = cmds.add_parser(
        "calibrate",
        help="write strategy overrides for an instrument from its recorded features",
    )
    ca.add_argument("--features", nargs="+", required=True, type=Path, help=FEATURES_HELP)
    ca.add_argument("--out", required=True, type=Path, help="YAML to write, e.g. configs/calibrated_ethusdt.yaml")
    ca.add_argument(
        "--notional",
        type=float,
        default=_K.notional,
        help="base position in quote currency, e.g. 5000 USDT (written as orders.base_size)",
    )
    ca.add_argument("--contract-value", type=float, help="inverse contracts: quote value of one contract (BTCUSD_PERP: 100)")
    ca.add_argument(
        "--vpin-quantiles",
        nargs=3,
        type=float,
        default=list(_K.vpin_quantiles),
        help="three increasing quantiles of the warm recorded VPIN, written as vpin.thresholds",
    )
    ca.add_argument(
        "--regime-quantiles",
        nargs=2,
        type=float,
        default=list(_K.regime_quantiles),
        help="low and high quantiles of the recorded spread, depth and activity, written as the regime's bounds",
    )
    ca.add_argument(
        "--mode", choices=["quantile", "fixed"], default=_K.mode, help="threshold_mode written for VPIN and the regime"
    )
    ca.add_argument(
        "--warmup-share",
        type=float,
        default=_K.warmup_share,
        help="VPIN's and Hurst's warm-ups are shortened to at most this share of the shortest recording",
    )
    ca.set_defaults(run=_cmd_calibrate)

    la = cmds.add_parser(
        "lookahead",
        help="replay the features whole and cut at random points: rows and flat-position decisions must not change",
    )
    la.add_argument("--catalog", required=True, help="catalog folder or s3://bucket/prefix")
    la.add_argument("--instrument", required=True, help="instrument id, e.g. BTCUSDT-PERP.BINANCE")
    la.add_argument("--config", type=Path, default=Path("configs/strategy.yaml"), help="strategy config (YAML)")
    la.add_argument("--cuts", type=int, default=10, help="cut points, drawn at random among the full run's book batches")
    la.add_argument("--seed", type=int, default=7, help="seed of the cut points' draw")
    la.add_argument("--start", help="ISO time (UTC); default: the catalog's first event")
    la.add_argument("--end", help="ISO time (UTC); default: the catalog's last event")
    la.set_defaults(run=_cmd_lookahead)
    _register_funding(cmds)


def _register_funding(cmds) -> None:
    fu = cmds.add_parser(
        "funding",
        help="the funding-arbitrage claims (how often |z| > 3, the funding leg after costs) on settled funding history",
    )
    fu.add_argument("--bars", type=Path, help="8 h bars with funding rates (time,exchange,crypto,pair,contract,open,...)")
    fu.add_argument("--bars-tz", default="Europe/London", help="time zone of the bars' time column, e.g. UTC")
    fu.add_argument("--history", nargs="+", type=Path, default=[], help="Binance funding history files (z counts only)")
    fu.add_argument("--history-tz", default="Europe/London", help="time zone of a website export's Time column")
    fu.add_argument("--out", required=True, type=Path, help="folder for claims.csv, funding_signals.csv, funding_counts.csv")
    fu.add_argument("--hold", type=int, default=1, help="settlements held (and collected) per signal")
    fu.add_argument(
        "--window", type=int, default=90, help="the detector's history, in settled rates (90: 30 days of 8 h funding)"
    )
    fu.add_argument("--min-history", type=int, default=30, help="settled rates the detector holds before its first signal")
    fu.add_argument("--z", type=float, default=3.0, help="the detector's signal threshold on |z| of the latest settled rate")
    fu.add_argument(
        "--fee-mode",
        choices=list(COST_MODES),
        default="taker_taker",
        help="the round trip's fees: each leg maker or taker (--maker-bps, --taker-bps; no spread)",
    )
    fu.add_argument("--maker-bps", type=float, default=_C.maker_bps, help="maker fee per leg, in bps of notional")
    fu.add_argument("--taker-bps", type=float, default=_C.taker_bps, help="taker fee per leg, in bps of notional")
    BootstrapSettings.add_arguments(fu, "each interval")
    fu.add_argument("--seed", type=int, default=_B.seed, help="the bootstrap's random seed")
    fu.set_defaults(run=_cmd_funding)


def _cmd_funding(args) -> int:
    from scalp_nautilus.research.claims import claims_frame
    from scalp_nautilus.research.funding_claims import FundingSettings
    from scalp_nautilus.research.funding_claims import funding_claims
    from scalp_nautilus.research.funding_claims import read_bars
    from scalp_nautilus.research.funding_claims import read_history

    if args.bars is None and not args.history:
        raise InputError("research funding needs --bars and/or --history")
    series = (read_bars(args.bars, args.bars_tz) if args.bars else []) + [read_history(p, args.history_tz) for p in args.history]
    costs = Costs(args.maker_bps, args.taker_bps)
    boot = BootstrapSettings.from_args(args, seed=args.seed, method="circular")
    settings = FundingSettings(args.window, args.min_history, args.z, args.hold, args.fee_mode, costs, boot)
    result = funding_claims(series, settings)
    args.out.mkdir(parents=True, exist_ok=True)
    claims = claims_frame(result.claims)
    claims.to_csv(args.out / "claims.csv", index=False)
    result.signals.to_csv(args.out / "funding_signals.csv", index=False)
    result.counts.to_csv(args.out / "funding_counts.csv", index=False)
    print("\n".join(result.summary))
    _print_claims(claims)
    print(f"wrote {args.out / 'claims.csv'}, {args.out / 'funding_signals.csv'}, {args.out / 'funding_counts.csv'}")
    return 0


def _print_claims(claims) -> None:
    for c in claims.itertuples():
        interval = f"[{c.lo:.3g}, {c.hi:.3g}] +-{c.mc_err:.2g}" if c.lo == c.lo else ""
        value = f"{c.value:.3g}" if c.value == c.value else "-"
        p_adj = f"p_adj {c.p_adj:.3g}" if c.p_adj == c.p_adj else ""
        note = f" ({c.note})" if c.note else ""
        print(f"claim {c.id:<22s} {value:>8s} {interval:<28s} {p_adj:<13s} n={c.n:<6d} {c.verdict}{note}")


def _cmd_edge(args) -> int:
    from scalp_nautilus.research.claims import claims_frame
    from scalp_nautilus.research.report import ResearchSettings
    from scalp_nautilus.research.report import run_edge

    boot = BootstrapSettings.from_args(args, mc_target=args.mc_target, seed=args.seed, method=args.bootstrap)
    settings = ResearchSettings(tuple(args.horizons), boot, args.sample_ms, Costs(args.maker_bps, args.taker_bps))
    result = run_edge(args.features, args.out, settings, args.lee_ready)
    print("\n".join(result.summary))
    _print_claims(claims_frame(result.claims))
    print(f"wrote {args.out / 'edge.csv'}, {args.out / 'claims.csv'}, {args.out / 'report.html'}")
    return 0


def _cmd_calibrate(args) -> int:
    from scalp_nautilus.research.calibrate import calibrate
    from scalp_nautilus.research.calibrate import write_overrides

    settings = CalibrationSettings(
        args.notional, args.contract_value, tuple(args.vpin_quantiles), tuple(args.regime_quantiles), args.mode, args.warmup_share
    )
    overrides, lines = calibrate(args.features, settings)
    header = [
        "strategy overrides written by `scalp-nautilus research calibrate` from " + ", ".join(str(p) for p in args.features),
        *lines,
    ]
    write_overrides(overrides, args.out, header)
    print("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


def _cmd_lookahead(args) -> int:
    from scalp_nautilus.backtest.settings import check_strategy_config
    from scalp_nautilus.config import parse_utc
    from scalp_nautilus.config import read_yaml
    from scalp_nautilus.feature_replay.lookahead import audit

    for name in ("start", "end"):
        if getattr(args, name):
            parse_utc(getattr(args, name), f"--{name}")
    config = check_strategy_config(
        read_yaml(args.config), "scalp_nautilus.strategy:ScalpStrategyConfig", args.instrument, str(args.config)
    )
    result = audit(args.catalog, args.instrument, config, args.cuts, args.seed, args.start, args.end)
    print("\n".join(result.lines()))
    return 0 if result.clean else 1
